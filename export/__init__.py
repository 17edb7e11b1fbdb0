"""Export stage: Keras -> TFLite variants (float32, float16, dynamic, int8, int8-static), verified on held-out data."""

from export.convert import IOType
from export.pipeline import DEFAULT_MAX_DROP_PP, ExportConfig, ExportResult, export_models

__all__ = ["DEFAULT_MAX_DROP_PP", "ExportConfig", "ExportResult", "IOType", "export_models"]
