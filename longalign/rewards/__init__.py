"""Training rewards: ``REWARDS`` maps ``reward.kind`` names to :class:`~longalign.rewards.base.TrainingReward`
classes.

* ``denscore`` — LongAlign's reweighted preference reward (:mod:`longalign.rewards.denscore`);
* ``caption`` — CoMat's concept matching: how likely a frozen captioner finds the prompt as the image's
  caption (:mod:`longalign.rewards.caption`), scored by segments so long prompts are never truncated.

Every reward stage (``reward``, ``reward-lcm``, ``comat``) builds its reward from the ``reward`` config section
through this registry, so any reward runs on any stage's rollout. A plugin adds a reward through an entry point
in the group ``longbench.rewards`` (``name = "package.module:MyReward"``).
"""

from longbench.registry import Registry

BUILTIN = {
    "denscore": "longalign.rewards.denscore:PreferenceReward",
    "caption": "longalign.rewards.caption:CaptionReward",
}

REWARDS = Registry("reward", "longbench.rewards", "longalign.rewards:BUILTIN")
