"""Training stages. ``STAGES`` maps ``--stage`` names to lazy ``"module:Class"`` targets."""

STAGES = {
    "align": "longalign.stages.align:AlignStage",
    "lcm": "longalign.stages.lcm:LcmStage",
    "reward": "longalign.stages.reward:RewardStage",
    "reward-lcm": "longalign.stages.reward_lcm:RewardLcmStage",
    "denscore": "longalign.stages.denscore:DenscoreStage",
}
