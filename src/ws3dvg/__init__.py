"""ws3dvg: weakly supervised 3D visual grounding (WS-3DVG) as a staged pipeline."""

__version__ = "0.1.0"
