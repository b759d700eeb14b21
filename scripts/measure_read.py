#!/usr/bin/python3
"""Measures reading a live H.264 stream over RTMP and over RTSP on loopback, as skycountd reads
it (GStreamer: source, depay/demux, h264parse, avdec_h264, scale), for docs/mediamtx.md.

MediaMTX is not packaged in any registry this project can reach, so the servers here stand in
for it: nginx-rtmp for RTMP (the drone publishes, skycountd reads) and gst-rtsp-server for RTSP.
What is compared is the reader's side: its CPU time and the latency from a frame being made to
it being decoded. Rows: rtmp (drone -> nginx -> reader over RTMP); rtsp-relay (drone -> nginx ->
RTSP server relaying it -> reader over RTSP: one hop more than MediaMTX would have, so it is
the pessimistic case for RTSP); rtsp (an RTSP server encoding itself: the RTSP leg alone). Each frame carries its making time (monotonic ms, 16 bits) as black and white
bars that survive compression; the reader decodes them.

Usage: /usr/bin/python3 scripts/measure_read.py [SECONDS]   (needs python3-gi, python3-numpy,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{good,bad,ugly}, gstreamer1.0-libav, nginx,
libnginx-mod-rtmp)
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

W, H, FPS, BITS, BAR_H = 1280, 720, 30, 16, 96
ENCODER = (
    "x264enc tune=zerolatency speed-preset=ultrafast bitrate=6000 key-int-max=30 "
    "! video/x-h264,profile=high"
)


def now_ms():
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)


class Frames:
    """I420 frames: moving noise (a realistic bitrate) with the time code in the top bars."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.noise = [rng.integers(16, 235, size=(H, W), dtype=np.uint8) for _ in range(8)]
        self.chroma = np.full((H // 2) * (W // 2) * 2, 128, dtype=np.uint8).tobytes()
        self.n = 0

    def next(self):
        y = self.noise[self.n % len(self.noise)].copy()
        self.n += 1
        code = now_ms() & 0xFFFF
        bar_w = W // BITS
        for i in range(BITS):
            y[:BAR_H, i * bar_w:(i + 1) * bar_w] = 235 if (code >> (BITS - 1 - i)) & 1 else 16
        return y.tobytes() + self.chroma


def push_frames(appsrc, stop):
    frames = Frames()
    dur = Gst.SECOND // FPS
    t0 = time.monotonic()
    i = 0
    while not stop.is_set():
        buf = Gst.Buffer.new_wrapped(frames.next())
        buf.pts = i * dur
        buf.duration = dur
        if appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            break
        i += 1
        delay = t0 + i / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)


APPSRC = (
    f"appsrc name=src is-live=true format=time do-timestamp=false "
    f"caps=video/x-raw,format=I420,width={W},height={H},framerate={FPS}/1"
)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(tmp):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n"
            f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log;\nevents {{ worker_connections 64; }}\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n"
            "  application live { live on; record off; } } }\n"
        )
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not start")


def publish(rtmp_port, stop):
    """The drone: publishes RTMP to nginx."""
    pipe = Gst.parse_launch(
        f"{APPSRC} ! videoconvert ! {ENCODER} ! h264parse ! flvmux streamable=true "
        f"! rtmp2sink location=rtmp://127.0.0.1:{rtmp_port}/live/drone"
    )
    pipe.set_state(Gst.State.PLAYING)
    t = threading.Thread(target=push_frames, args=(pipe.get_by_name("src"), stop), daemon=True)
    t.start()
    return pipe


def serve(kind, port, rtmp_port, ready, stop):
    """The stand-in server side: the drone publishing to nginx (RTMP, read there), or an RTSP
    server that encodes itself (rtsp) or relays the drone's RTMP from nginx (rtsp-relay)."""
    Gst.init(None)
    loop = GLib.MainLoop()
    pushers = []
    if kind in ("rtmp", "rtsp-relay"):
        pushers.append(publish(rtmp_port, stop))
    if kind != "rtmp":
        server = GstRtspServer.RTSPServer()
        server.set_address("127.0.0.1")
        server.set_service(str(port))
        factory = GstRtspServer.RTSPMediaFactory()
        if kind == "rtsp":
            factory.set_launch(
                f"( {APPSRC} ! videoconvert ! {ENCODER} ! h264parse ! rtph264pay name=pay0 "
                "pt=96 config-interval=-1 )"
            )
        else:
            factory.set_launch(
                f"( rtmp2src location=rtmp://127.0.0.1:{rtmp_port}/live/drone ! flvdemux name=d "
                "d.video ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
            )
        factory.set_shared(True)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)

        def configure(_f, media):
            src = media.get_element().get_by_name("src")
            if src is not None:
                threading.Thread(target=push_frames, args=(src, stop), daemon=True).start()

        factory.connect("media-configure", configure)
        server.get_mount_points().add_factory("/live/drone", factory)
        server.attach(None)
    ready.set()
    GLib.timeout_add(100, lambda: (loop.quit() if stop.is_set() else True))
    loop.run()
    for p in pushers:
        p.set_state(Gst.State.NULL)


def read(source, seconds):
    """The reader, as skycountd's pipeline; returns (cpu seconds per second, latencies ms)."""
    Gst.init(None)
    pipe = Gst.parse_launch(
        f"{source} ! h264parse ! avdec_h264 ! videoconvert ! videoscale "
        f"! video/x-raw,format=GRAY8,width=640,height=360 ! appsink name=sink emit-signals=true "
        "max-buffers=1 drop=true sync=false"
    )
    lat = []
    bar_w = 640 // BITS
    bar_row = BAR_H * 360 // H // 2

    def on_sample(sink):
        s = sink.emit("pull-sample")
        ok, info = s.get_buffer().map(Gst.MapFlags.READ)
        if ok:
            row = np.frombuffer(info.data, dtype=np.uint8, count=640 * 360).reshape(360, 640)[bar_row]
            code = 0
            for i in range(BITS):
                code = (code << 1) | (1 if row[i * bar_w + bar_w // 2] > 128 else 0)
            s.get_buffer().unmap(info)
            lat.append((now_ms() - code) & 0xFFFF)
        return Gst.FlowReturn.OK

    pipe.get_by_name("sink").connect("new-sample", on_sample)
    pipe.set_state(Gst.State.PLAYING)
    # Let it settle (first keyframe, buffers), then measure.
    deadline = time.monotonic() + 15
    while not lat and time.monotonic() < deadline:
        time.sleep(0.05)
    if not lat:
        pipe.set_state(Gst.State.NULL)
        raise SystemExit(f"no frame from {source}")
    time.sleep(2)
    lat.clear()
    c0, t0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu = (time.process_time() - c0) / (time.monotonic() - t0)
    got = list(lat)
    pipe.set_state(Gst.State.NULL)
    return cpu, got, len(got) / seconds


def child(kind, port, seconds, latency):
    src = (
        f"rtmp2src location=rtmp://127.0.0.1:{port}/live/drone ! flvdemux name=d d.video ! queue"
        if kind == "rtmp"
        else f"rtspsrc location=rtsp://127.0.0.1:{port}/live/drone latency={latency} protocols=tcp "
        "! rtph264depay"
    )
    cpu, lat, fps = read(src, seconds)
    lat = sorted(lat)
    med = lat[len(lat) // 2]
    p95 = lat[int(len(lat) * 0.95)]
    print(f"{kind:10} {('latency=' + str(latency)) if kind != 'rtmp' else '':11} "
          f"cpu {cpu * 100:5.1f}% of a core  fps {fps:4.1f}  latency median {med} ms, p95 {p95} ms",
          flush=True)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    print(f"{W}x{H} {FPS} fps H.264 (x264 ultrafast, 6 Mbit/s), {seconds} s each, loopback; "
          "reader: source ! h264parse ! avdec_h264 ! videoconvert ! videoscale 640x360 ! appsink")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, latency in [("rtmp", 0), ("rtsp-relay", 0), ("rtsp-relay", 100), ("rtsp", 0)]:
            stop, ready = threading.Event(), threading.Event()
            nginx, rtmp_port = start_nginx(tmp)
            port = rtmp_port if kind == "rtmp" else free_port()
            srv = threading.Thread(target=serve, args=(kind, port, rtmp_port, ready, stop),
                                   daemon=True)
            srv.start()
            ready.wait(10)
            time.sleep(1)
            # The reader runs in its own process so that its CPU time is its own.
            reader = "rtmp" if kind == "rtmp" else "rtsp"
            print(f"[{kind}] ", end="", flush=True)
            subprocess.run([sys.executable, __file__, "--child", reader, str(port), str(seconds),
                            str(latency)], check=False, timeout=seconds + 60)
            stop.set()
            srv.join(5)
            nginx.terminate()
            nginx.wait(5)


if __name__ == "__main__":
    main()
