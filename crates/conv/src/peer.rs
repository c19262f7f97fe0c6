//! Safetensors exchange with the PyTorch peer (filled below).
