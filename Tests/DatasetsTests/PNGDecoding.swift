import Datasets

/// Decodes PNG bytes (any PNG libspng reads) as 8-bit RGB with the image-folder reader's decoder; nil
/// when they are not a valid PNG (a bad signature, CRC or stream). For checking what `PNGWriter` wrote.
func decodePNG(_ bytes: [UInt8]) -> (width: Int, height: Int, rgb: [UInt8])? {
    let decoder = ImageDecoder(maxPixels: 1 << 28)
    decoder.use(bytes: bytes)
    guard let header = try? decoder.header(), !header.isJPEG,
          let region = try? decoder.decode(scale: 1, columns: 0..<header.width, rows: 0..<header.height, scaledWidth: header.width)
    else { return nil }
    return (region.width, region.height, decoder.pixels(of: region))
}
