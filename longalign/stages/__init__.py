"""Training stages: ``STAGES`` maps ``--stage`` names to :class:`~longalign.stages.base.Stage` classes.

A stage is one module declaring its config dataclass (``longalign.config.StageConfig``, with its checks)
and its ``Stage`` subclass (``config_class`` = that dataclass). The built-ins are lazy ``"module:Class"``
entries, so listing them imports nothing heavy; a plugin adds a stage through an entry point in the group
``longbench.stages`` (``name = "package.module:MyStage"``). See docs/architecture.md and docs/training.md.
"""

from longbench.registry import Registry

BUILTIN = {
    "align": "longalign.stages.align:AlignStage",
    "lcm": "longalign.stages.lcm:LcmStage",
    "reward": "longalign.stages.reward:RewardStage",
    "reward-lcm": "longalign.stages.reward_lcm:RewardLcmStage",
    "denscore": "longalign.stages.denscore:DenscoreStage",
    "comat": "longalign.stages.comat:ComatStage",
    "clip": "longalign.stages.clip:ClipStage",
    "vae": "longalign.stages.vae:VaeStage",
    "base": "longalign.stages.base_unet:BaseUnetStage",
}

STAGES = Registry("stage", "longbench.stages", "longalign.stages:BUILTIN")
