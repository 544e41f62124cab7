"""The Toy NPU: a made-up accelerator card, supported in pytest-think by this package alone.

Its firmware images (``*.npu``) are loaded with ``npuctl load <image>``; the card reports
what it runs in ``/sys/class/npu/npu0/{state,image}`` and forgets it on a power cycle. The
CPU beside it runs the network's ONNX model through the agent, as a generic board does.
"""
