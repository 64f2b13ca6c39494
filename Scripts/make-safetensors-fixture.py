"""Writes Tests/TensorKitTests/Fixtures/reference.safetensors with the reference safetensors
implementation (pip install safetensors numpy), so the Swift reader is tested on a file it did not write.
Run once from the repository root; the output is committed."""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "weight_f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1,
    "bias_f16": np.array([0.5, -2.0, 65504.0], dtype=np.float16),
    "ids_i64": np.array([[1, -2], [3, 4]], dtype=np.int64),
    "mask_bool": np.array([True, False, True], dtype=np.bool_),
    "scalar_f64": np.array(3.25, dtype=np.float64),
    "bytes_u8": np.arange(5, dtype=np.uint8),
    "empty_i32": np.zeros((0, 3), dtype=np.int32),
}
save_file(tensors, "Tests/TensorKitTests/Fixtures/reference.safetensors", metadata={"format": "np", "note": "made by the reference"})
