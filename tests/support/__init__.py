"""Test infrastructure: generated H.264 media and real external servers started on loopback.

Import it as ``tests.support`` (pytest's ``pythonpath = ["."]`` puts the repo root on ``sys.path``):
``from tests.support.media import ensure_clip, read_frame_index``,
``from tests.support.servers import RtspServerProcess, RedisServerProcess, free_port``.
Always through that one name, so that classes such as ``ServerStartError`` are the same objects in
the fixtures and in the tests.
"""
