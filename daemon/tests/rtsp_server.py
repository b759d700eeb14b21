#!/usr/bin/python3
"""A real RTSP server for the tests (GStreamer's gst-rtsp-server), on loopback: serves a live
H.264 test pattern at rtsp://127.0.0.1:PORT/live/drone until killed (or, given a second
argument, that gst-launch description of the media, e.g. MJPEG with rtpjpegpay name=pay0). Stands in for MediaMTX's RTSP
side, which the daemon reads by default. Needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0
(scripts/debian-test-packages.txt)."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
H264 = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0"
    " ! rtph264pay name=pay0 pt=96 config-interval=1"
)
factory.set_launch("( " + (sys.argv[2] if len(sys.argv) > 2 else H264) + " )")
factory.set_shared(True)
server.get_mount_points().add_factory("/live/drone", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on 127.0.0.1:" + sys.argv[1])
print("ready", flush=True)
GLib.MainLoop().run()
