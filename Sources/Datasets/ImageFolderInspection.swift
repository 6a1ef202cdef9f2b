import Foundation

/// What `multimix data inspect` prints for an image folder: every file decoded (the bad ones named with
/// their reason), counts per split and class, image sizes, and the folder's own per-channel mean and
/// standard deviation over train/'s pixels, ready to paste as `data.normalize`.
///
///     dataset  image folder at /data/photos (1250 images, 0 other files)
///     sizes    500x375 to 500x375 pixels (median 500x375); 1250 JPEG, 0 PNG
///     class               train     val
///       0 airplane          100      25
///     ...
///     normalize {mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}   (train/, pixel / 255)
///     bad      2 files
///       /data/photos/train/cat/7.jpg: JPEG: Premature end of JPEG file
public struct ImageFolderInspection {
    /// The listing.
    public let listing: ImageFolderListing
    /// Each file that failed to decode (`PATH: REASON`), in listing order.
    public private(set) var badFiles: [String] = []
    /// train/'s per-channel statistics (nil when no train/ image decoded).
    public private(set) var statistics: ChannelStatistics?
    private var widths: [Int] = [], heights: [Int] = []
    private var jpegCount = 0, pngCount = 0

    /// Lists `root` and decodes every image (train/, then val/), calling `progress(done, total)` after each.
    public init(root: String, maxPixels: Int, progress: (Int, Int) -> Void = { _, _ in }) throws {
        listing = try ImageFolderListing(root: root)
        let decoder = ImageDecoder(maxPixels: maxPixels)
        let splits = [listing.train] + (listing.validation.map { [$0] } ?? [])
        let total = splits.reduce(0) { $0 + $1.count }
        var done = 0
        var sums = [Double](repeating: 0, count: 3), squares = [Double](repeating: 0, count: 3), pixels = 0.0
        for (splitIndex, files) in splits.enumerated() {
            for index in 0..<files.count {
                do {
                    try decoder.read(files, example: index)
                    let header = try decoder.header()
                    let region = try decoder.decode(scale: 1, columns: 0..<header.width, rows: 0..<header.height,
                                                    scaledWidth: header.width)
                    widths.append(header.width)
                    heights.append(header.height)
                    if header.isJPEG { jpegCount += 1 } else { pngCount += 1 }
                    if splitIndex == 0 {
                        decoder.withPixels { rgb in
                            var s = SIMD4<Double>(repeating: 0), q = SIMD4<Double>(repeating: 0)
                            for p in 0..<(region.width * region.height) {
                                let v = SIMD4<Double>(Double(rgb[p * 3]), Double(rgb[p * 3 + 1]), Double(rgb[p * 3 + 2]), 0) / 255
                                s += v
                                q += v * v
                            }
                            for c in 0..<3 { sums[c] += s[c]; squares[c] += q[c] }
                        }
                        pixels += Double(region.width * region.height)
                    }
                } catch {
                    badFiles.append("\(files.displayPath(of: index)): \(error)")
                }
                done += 1
                progress(done, total)
            }
        }
        if pixels > 0 {
            let mean = sums.map { $0 / pixels }
            let deviation = (0..<3).map { max((squares[$0] / pixels - mean[$0] * mean[$0]).squareRoot(), 1e-6) }
            statistics = ChannelStatistics(mean: mean.map(Float.init), standardDeviation: deviation.map(Float.init))
        }
    }

    /// The report as text, one fact a line.
    public var text: String {
        func number(_ value: Float) -> String { String(format: "%.4f", value) }
        let splits = [("train", listing.train)] + (listing.validation.map { [("val", $0)] } ?? [])
        let total = splits.reduce(0) { $0 + $1.1.count }
        var lines = ["dataset  image folder at \(listing.root) (\(total) images, \(listing.otherFiles) other files not read)"]
        if !widths.isEmpty {
            let areas = zip(widths, heights).sorted { $0.0 * $0.1 < $1.0 * $1.1 }
            let (small, middle, large) = (areas.first!, areas[areas.count / 2], areas.last!)
            lines.append("sizes    \(small.0)x\(small.1) to \(large.0)x\(large.1) pixels (median \(middle.0)x\(middle.1)); \(jpegCount) JPEG, \(pngCount) PNG")
        }
        let nameWidth = max(5, listing.classNames.map(\.count).max()! + 6)
        func padded(_ text: String, _ width: Int, left: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + padding : padding + text
        }
        lines.append(padded("class", nameWidth + 2, left: true) + splits.map { padded($0.0, 8) }.joined())
        let counts = splits.map(\.1.countsPerClass)
        for (label, name) in listing.classNames.enumerated() {
            lines.append(padded("  " + padded("\(label)", 3) + " " + name, nameWidth + 2, left: true)
                         + counts.map { padded("\($0[label])", 8) }.joined())
        }
        if let statistics {
            lines.append("normalize {mean: [\(statistics.mean.map(number).joined(separator: ", "))], std: [\(statistics.standardDeviation.map(number).joined(separator: ", "))]}"
                         + "   (train/'s pixels / 255: paste as data.normalize)")
        }
        lines.append("bad      \(badFiles.count) file\(badFiles.count == 1 ? "" : "s")" + (badFiles.isEmpty ? "" : " (data.on_bad_image decides what training does with them)"))
        lines += badFiles.map { "  " + $0 }
        return lines.joined(separator: "\n")
    }

    /// The first `perClass` train/ images of the first `classes` classes, resized to `size`² (whole
    /// image, bilinear) as 8-bit pixels: the input of ``ImageGrid``. Images that fail stay black.
    public func gridImages(classes: Int, perClass: Int, size: Int, maxPixels: Int) -> ImageDataset {
        let renderer = ImageRenderer(size: size, maxPixels: maxPixels)
        let identity = ChannelStatistics(mean: [0, 0, 0], standardDeviation: [Float](repeating: 1.0 / 255, count: 3))
        var pixels = [UInt8](), labels = [Int32]()
        var buffer = [Float](repeating: 0, count: size * size * 3)
        let members = Dictionary(grouping: 0..<listing.train.count) { Int(listing.train.labels[$0]) }
        for label in 0..<min(classes, listing.classNames.count) {
            for index in (members[label] ?? []).prefix(perClass) {
                buffer.withUnsafeMutableBufferPointer { out in
                    out.update(repeating: 0)
                    do {
                        try renderer.decoder.read(listing.train, example: index)
                        let header = try renderer.decoder.header()
                        try renderer.render(header: header, draw: .init(box: .init(x: 0, y: 0, width: Double(header.width), height: Double(header.height))),
                                            statistics: identity, into: out.baseAddress!)
                    } catch {}
                }
                pixels += buffer.map { UInt8(max(0, min(255, $0.rounded()))) }
                labels.append(Int32(label))
            }
        }
        return ImageDataset(shape: ImageShape(height: size, width: size, channels: 3), pixels: pixels, labels: labels,
                            classNames: listing.classNames)
    }
}
