"""Bridges to other frameworks: layout.py converts parameter layouts (NumPy only), torch.py
converts whole layers to and from torch.nn modules (imports torch; import it explicitly)."""
