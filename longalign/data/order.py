"""The order training batches are drawn in: a seeded stream of epoch permutations (resumable at any batch)."""

from __future__ import annotations

from collections.abc import Iterator


class StreamBatchSampler:
    """Batches of a seeded stream of epoch permutations, starting at batch ``start``.

    The stream is a pure function of (n, seed): batch k is the same whether a run went straight or was
    resumed at k, which keeps resumed runs on the identical trajectory. Datasets smaller than a batch
    simply wrap into the next epoch. accelerate shards the batches across processes.
    """

    def __init__(self, n: int, batch_size: int, seed: int, num_batches: int, start: int = 0):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.num_batches, self.start = num_batches, start

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start)

    def _epoch(self, epoch: int) -> list[int]:
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        first = self.start * self.batch_size
        epoch, offset = divmod(first, self.n)
        order = self._epoch(epoch)
        for _ in range(len(self)):
            batch = []
            while len(batch) < self.batch_size:
                if offset == self.n:
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
                take = min(self.batch_size - len(batch), self.n - offset)
                batch.extend(order[offset:offset + take])
                offset += take
            yield batch
