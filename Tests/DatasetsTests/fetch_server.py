#!/usr/bin/env python3
"""Test helper for DataFetchTests: builds archives in the official layout and serves them over HTTP.

  fetch_server.py make-cifar10 SHARED_FOLDER OUT.tar.gz
  fetch_server.py make-cifar100-test SHARED_FOLDER OUT.tar.gz [--corrupt]
  fetch_server.py make-ood OUT.tar.gz
  fetch_server.py make-ood-escape OUT.tar.gz
  fetch_server.py make-tinyimagenet OUT.zip
  fetch_server.py serve ROOT PORT_FILE LOG_FILE

make-ood builds a small archive in the layout of ODIN's LSUN.tar.gz (LSUN/test/*.png, one image in
a subfolder), with a text file, a symbolic link named like an image and a hard link, none of which
may be unpacked; make-ood-escape one whose image entry is ../escaped.png. make-tinyimagenet builds a
zip in the layout of cs231n's tiny-imagenet-200.zip (3 classes; PNG bytes under .JPEG names) whose
65,600 entries in test/ make it a zip64 archive, as the real one (120,000 files) is.

SHARED_FOLDER holds the dataset's files xz-compressed (../shared/data/<folder>). The server binds
127.0.0.1 on a free port, writes the port to PORT_FILE, and logs "PATH RANGE" per request to LOG_FILE.
Paths: /files/NAME serves ROOT/NAME with Range support; /drop/NAME sends the first request (without a
Range header) half the body, then closes the connection, and behaves as /files afterwards;
/norange/NAME ignores Range headers; /stall/NAME sends the headers and 1000 bytes, then nothing;
anything else is a 404.
"""
import http.server
import io
import lzma
import os
import struct
import sys
import tarfile
import threading
import time
import zlib


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1241000000
    tar.addfile(info, io.BytesIO(data))


def unpack(folder, name):
    path = os.path.join(folder, name)
    if os.path.exists(path + ".xz"):
        with lzma.open(path + ".xz") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def png(size, seed):
    """An RGB PNG of size x size pixels, without Pillow."""
    rows = b"".join(b"\0" + bytes((seed * 37 + x * 7 + y * 3 + c * 50) % 256 for x in range(size) for c in range(3))
                    for y in range(size))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def make_ood(out, escape):
    with tarfile.open(out + ".tmp", "w:gz", compresslevel=1) as tar:
        if escape:
            add(tar, "LSUN/test/0.png", png(32, 0))
            add(tar, "../escaped.png", png(32, 1))
        else:
            for i in range(5):
                add(tar, "LSUN/test/%d.png" % i, png(32, i))
            add(tar, "./LSUN/test/sub/5.png", png(36, 5))
            add(tar, "LSUN/readme.txt", b"not an image\n")
            link = tarfile.TarInfo("LSUN/test/link.png")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            tar.addfile(link)
            hard = tarfile.TarInfo("LSUN/test/hard.png")
            hard.type = tarfile.LNKTYPE
            hard.linkname = "LSUN/test/0.png"
            tar.addfile(hard)
    os.rename(out + ".tmp", out)


def make_tinyimagenet(out):
    import zipfile
    classes = ["n01443537", "n01629819", "n02124075"]
    top = "tiny-imagenet-200/"
    with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(top + "wnids.txt", "".join(c + "\n" for c in classes))
        z.writestr(top + "words.txt", "n01443537\tgoldfish\n")
        for k, c in enumerate(classes):
            z.writestr(top + "train/%s/" % c, b"")
            z.writestr(top + "train/%s/%s_boxes.txt" % (c, c), "%s_0.JPEG\t0\t0\t10\t10\n" % c)
            for i in range(2):
                z.writestr(top + "train/%s/images/%s_%d.JPEG" % (c, c, i), png(64, 10 * k + i),
                           compress_type=zipfile.ZIP_STORED if i == 1 else zipfile.ZIP_DEFLATED)
        lines = []
        for i in range(4):
            z.writestr(top + "val/images/val_%d.JPEG" % i, png(64, 100 + i))
            lines.append("val_%d.JPEG\t%s\t0\t0\t63\t63\n" % (i, classes[i % 2]))
        z.writestr(top + "val/val_annotations.txt", "".join(lines))
        for i in range(65600):
            z.writestr(top + "test/images/test_%d.JPEG" % i, b"", compress_type=zipfile.ZIP_STORED)
    os.rename(out + ".tmp", out)


def make(kind, shared, out, corrupt):
    with tarfile.open(out + ".tmp", "w:gz", compresslevel=1) as tar:
        if kind == "make-cifar10":
            for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin", "batches.meta.txt"]:
                add(tar, "cifar-10-batches-bin/" + name, unpack(shared, name))
            add(tar, "cifar-10-batches-bin/readme.html", b"<html>test archive</html>\n")
        else:
            for name in ["coarse_label_names.txt", "fine_label_names.txt", "test.bin"]:
                data = unpack(shared, name)
                if corrupt and name == "test.bin":
                    data = bytearray(data)
                    data[5000] ^= 0x55  # a pixel byte of record 1: the records still read
                    data = bytes(data)
                add(tar, "cifar-100-binary/" + name, data)
    os.rename(out + ".tmp", out)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    dropped = set()
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/", 1)
        mode, name = (parts + [""])[:2]
        range_header = self.headers.get("Range")
        with open(self.server.log_file, "a") as log:
            log.write("%s %s\n" % (self.path, range_header or "-"))
        path = os.path.join(self.server.root, name)
        if mode == "endless":
            # A body without a length that never ends (a hostile or broken server).
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            chunk = b"\0" * (1 << 20)
            try:
                while True:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
        if mode not in ("files", "drop", "norange", "stall") or not os.path.isfile(path):
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        if range_header and mode != "norange" and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-")[0])
        if start >= len(data) and start > 0:
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % len(data))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start > 0 else 200)
        if start > 0:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(60)
            return
        if mode == "drop" and range_header is None:
            with Handler.lock:
                first = name not in Handler.dropped
                Handler.dropped.add(name)
            if first:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        self.wfile.write(body)


def serve(root, port_file, log_file):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.root = root
    server.log_file = log_file
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:5])
    elif sys.argv[1] == "make-tinyimagenet":
        make_tinyimagenet(sys.argv[2])
    elif sys.argv[1] in ("make-ood", "make-ood-escape"):
        make_ood(sys.argv[2], sys.argv[1] == "make-ood-escape")
    else:
        make(sys.argv[1], sys.argv[2], sys.argv[3], "--corrupt" in sys.argv)
