#!/usr/bin/env python3
"""Renders a page in headless Chromium and checks that its charts were really drawn.

usage: check_render.py [--html PAGE] --png SHOT [--size WxH] [--timeout S] [--chromium PATH]
                       --expect NAME=#rrggbb[|#rrggbb...]:MIN [--expect ...]

With --html, PAGE is rendered into the screenshot SHOT (PNG); without it, SHOT is only checked.
Each --expect names a chart by the fill colours only it uses (cadre/runtime/report_html.h) and the
least number of screenshot pixels that must have exactly one of those colours. An empty, broken or
missing chart leaves too few.

Exit status: 0 every chart drawn; 1 a chart missing; 2 Chromium failed or timed out, or the
screenshot is not a PNG this script reads. Standard library only (the PNG is decoded here).
Chromium runs in its own process group with a private profile; on timeout the group is killed.
"""
import argparse
import collections
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib


def render(chromium, html, png, width, height, timeout):
    profile = tempfile.mkdtemp(prefix="cadre-chromium-")
    log_path = png + ".chromium.log"
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio",
            "--force-device-scale-factor=1", "--user-data-dir=" + profile,
            "--window-size=%d,%d" % (width, height), "--screenshot=" + png,
            "file://" + os.path.abspath(html)]
    try:
        if os.path.exists(png):
            os.remove(png)
        with open(log_path, "wb") as log:
            child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Its group (the browser and its helpers) is killed while the browser is still
                # unreaped, so the group id cannot have been reused.
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                print("chromium did not finish within %ss (killed); log: %s" % (timeout, log_path))
                return False
        if code != 0 or not os.path.exists(png):
            print("chromium exited with %s and no screenshot; log: %s" % (code, log_path))
            return False
        return True
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(path):
    """Returns (width, height, bytes per pixel, pixel bytes), 8-bit RGB or RGBA only."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace != 0:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)"
                         % (depth, colour_type, interlace))
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    prior = bytes(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1:start + 1 + stride]
        if kind == 0:
            row = line
        elif kind == 2:  # Up: bytewise sum with the row above, without carries (SWAR)
            a, b = int.from_bytes(line, "big"), int.from_bytes(prior, "big")
            row = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        else:
            out = bytearray(line)
            if kind == 1:  # Sub
                for i in range(bpp, stride):
                    out[i] = (out[i] + out[i - bpp]) & 0xFF
            elif kind == 3:  # Average
                for i in range(stride):
                    left = out[i - bpp] if i >= bpp else 0
                    out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
            elif kind == 4:  # Paeth
                for i in range(stride):
                    if i >= bpp:
                        out[i] = (out[i] + paeth(out[i - bpp], prior[i], prior[i - bpp])) & 0xFF
                    else:
                        out[i] = (out[i] + prior[i]) & 0xFF
            else:
                raise ValueError("bad filter type %d on row %d" % (kind, y))
            row = bytes(out)
        rows.append(row)
        prior = row
    return width, height, bpp, b"".join(rows)


def parse_expect(text):
    name, _, rest = text.partition("=")
    colours, _, minimum = rest.rpartition(":")
    rgb = []
    for colour in colours.split("|"):
        colour = colour.strip().lstrip("#")
        if len(colour) != 6:
            raise argparse.ArgumentTypeError("bad colour in %r" % text)
        rgb.append(tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4)))
    return name, rgb, int(minimum)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html")
    parser.add_argument("--png", required=True)
    parser.add_argument("--size", default="1280x2000")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", ""))
    parser.add_argument("--expect", action="append", type=parse_expect, default=[])
    args = parser.parse_args()
    if args.html:
        chromium = args.chromium or next(
            (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                   "google-chrome")) if p), None)
        if not chromium:
            print("no chromium found (Debian: apt-get install chromium, or ci/install-missing.sh)")
            return 2
        width, height = (int(v) for v in args.size.split("x"))
        if not render(chromium, args.html, args.png, width, height, args.timeout):
            return 2
    try:
        width, height, bpp, pixels = decode_png(args.png)
    except (OSError, ValueError, zlib.error) as error:
        print("cannot read %s: %s" % (args.png, error))
        return 2
    counts = collections.Counter(zip(pixels[0::bpp], pixels[1::bpp], pixels[2::bpp]))
    missing = []
    for name, colours, minimum in args.expect:
        found = sum(counts[c] for c in colours)
        print("%-10s %8d pixels (need %d)" % (name, found, minimum))
        if found < minimum:
            missing.append(name)
    print("screenshot %dx%d" % (width, height))
    if missing:
        print("not drawn: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
