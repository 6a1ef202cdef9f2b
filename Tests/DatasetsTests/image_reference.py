"""Pillow as the reference for the image-folder tests (Tests/DatasetsTests/ImageFolderTests.swift).

  decode PATH OUT                       RGB bytes of Image.open(PATH).convert("RGB"); prints [w, h]
  resize PATH OUT SIZE X0 Y0 X1 Y1      RGB bytes of .resize((SIZE, SIZE), BILINEAR, box=(X0, Y0, X1, Y1))
"""
import json, sys
import numpy as np
from PIL import Image

command, path, out = sys.argv[1:4]
image = Image.open(path).convert("RGB")
if command == "resize":
    size = int(sys.argv[4])
    box = tuple(float(v) for v in sys.argv[5:9])
    image = image.resize((size, size), Image.BILINEAR, box=box)
pixels = np.asarray(image, dtype=np.uint8)
open(out, "wb").write(pixels.tobytes())
print(json.dumps([pixels.shape[1], pixels.shape[0]]))
