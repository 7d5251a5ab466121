"""``abusenet synth``: a seeded generator of realistic interaction logs with planted abuse rings.

Public API: :func:`generate`, :class:`SynthResult`, :class:`SynthConfig`, :func:`load_config`.
"""

from ingest.synth.config import RING_KINDS, SynthConfig, load_config
from ingest.synth.generate import FORMATS, SynthResult, generate

__all__ = ["FORMATS", "RING_KINDS", "SynthConfig", "SynthResult", "generate", "load_config"]
