"""Training data: image-caption pairs (``captions``), preference pairs (``preferences``), the tables both are
read from (``tables``) and the seeded order batches are drawn in (``order``)."""
