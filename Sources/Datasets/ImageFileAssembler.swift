import Dispatch
import Foundation
import Tensors

/// What to do with an image file that fails to decode during training (`data.on_bad_image`).
public enum BadImagePolicy: String, Sendable, CaseIterable {
    /// Stop: the trainer checkpoints the last completed step and exits with one line naming the file.
    case error
    /// Use the next image of the same class (in listing order) instead, and count it (`bad_images`).
    case skip
}

/// Assembles batches from image files: each image read, decoded (at a reduced DCT scale where the
/// crop allows), cropped, resized, flipped and normalised into the batch buffer in one pass
/// (``ImageResampler``), by `workers` threads, image i of the batch by worker i mod workers.
///
/// A batch is a pure function of (seed, epoch, step, rank) and the indices, as with
/// ``BatchAssembler``, so resumed runs and any worker count see the same pixels. With
/// ``BadImagePolicy/skip``, a failing image is replaced by the next image of its class that decodes
/// (deterministic too); with ``BadImagePolicy/error``, the batch reports the failure.
public struct ImageFileAssembler: BatchAssembling {
    /// The examples.
    public let files: ImageFileList
    /// Crop, resize and flip.
    public let transform: ImageTransform
    /// Normalisation (3 channels).
    public let statistics: ChannelStatistics
    /// Whether this is a training loader (random choices) or an evaluation one (none).
    public let isTraining: Bool
    /// The run's seed.
    public let seed: UInt64
    /// Decoding threads.
    public let workers: Int
    /// Failing images.
    public let onBadImage: BadImagePolicy
    /// How many other images of the class are tried in place of a failing one.
    public static let replacementTries = 8

    private let pool: WorkerPool
    /// Each class's examples in order, and each example's place in its class (for replacements).
    private let classMembers: [[Int]]
    private let placeInClass: [Int]

    public init(files: ImageFileList, transform: ImageTransform, statistics: ChannelStatistics, isTraining: Bool,
                seed: UInt64, workers: Int = 1, onBadImage: BadImagePolicy = .error, maxImagePixels: Int) {
        precondition(statistics.mean.count == 3, "image folders are RGB: 3 channel statistics, got \(statistics.mean.count)")
        precondition(workers >= 1, "workers \(workers)")
        self.files = files
        self.transform = transform
        self.statistics = statistics
        self.isTraining = isTraining
        self.seed = seed
        self.workers = workers
        self.onBadImage = onBadImage
        pool = WorkerPool(count: workers, size: transform.size, maxPixels: maxImagePixels)
        var members = [[Int]](repeating: [], count: files.classCount)
        var place = [Int](repeating: 0, count: files.count)
        for (index, label) in files.labels.enumerated() {
            place[index] = members[Int(label)].count
            members[Int(label)].append(index)
        }
        classMembers = members
        placeInClass = place
    }

    public var exampleCount: Int { files.count }
    public var imageShape: ImageShape { ImageShape(height: transform.size, width: transform.size, channels: 3) }

    public func assemble(indices: UnsafeBufferPointer<Int>, epoch: Int, step: Int, rank: Int,
                         images: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) -> AssemblyReport {
        let size = imageShape.elementCount
        precondition(images.count >= indices.count * size && labels.count >= indices.count, "batch buffers too small")
        let stream = RandomStream(seed: seed, epoch: epoch, step: step, rank: rank, purpose: .resizedCrop)
        let reports = UnsafeMutableBufferPointer<AssemblyReport>.allocate(capacity: workers)
        reports.initialize(repeating: .clean)
        defer { reports.deallocate() }
        let work = { (worker: Int) in
            var position = worker
            while position < indices.count {
                let index = indices[position]
                labels[position] = files.labels[index]
                let words = isTraining ? ImageTransform.Words(stream: stream, position: position) : nil
                writeImage(at: index, words: words, worker: worker, report: &reports[worker],
                           into: images.baseAddress! + position * size)
                position += workers
            }
        }
        if workers == 1 {
            work(0)
        } else {
            // Each worker writes its own positions, report slot and scratch; nothing else is shared.
            nonisolated(unsafe) let work = work
            DispatchQueue.concurrentPerform(iterations: workers) { work($0) }
        }
        var total = AssemblyReport.clean
        for report in reports {
            total.badImages += report.badImages
            if total.failure == nil { total.failure = report.failure }
        }
        return total
    }

    /// Decodes example `index` (or, with `.skip`, the first replacement that decodes) into `destination`.
    private func writeImage(at index: Int, words: ImageTransform.Words?, worker: Int, report: inout AssemblyReport,
                            into destination: UnsafeMutablePointer<Float>) {
        let renderer = pool.renderers[worker]
        let label = Int(files.labels[index])
        let tries = onBadImage == .skip ? min(Self.replacementTries, classMembers[label].count - 1) : 0
        var firstFailure: String?
        for attempt in 0...tries {
            let candidate = attempt == 0 ? index
                : classMembers[label][(placeInClass[index] + attempt) % classMembers[label].count]
            if let failure = decode(candidate, words: words, renderer: renderer, into: destination) {
                if firstFailure == nil { firstFailure = "\(files.displayPath(of: candidate)): \(failure.reason)" }
            } else {
                if attempt > 0 { report.badImages += 1 }
                return
            }
        }
        destination.update(repeating: 0, count: imageShape.elementCount)
        if onBadImage == .skip { report.badImages += 1 }
        if report.failure == nil {
            report.failure = firstFailure.map { tries > 0 ? "\($0) (and \(tries) replacements of its class failed too)" : $0 }
        }
    }

    /// Decodes example `index` through the transform into `destination`; the error, if it failed.
    private func decode(_ index: Int, words: ImageTransform.Words?, renderer: ImageRenderer,
                        into destination: UnsafeMutablePointer<Float>) -> ImageDecodeError? {
        do {
            try renderer.decoder.read(files, example: index)
            let header = try renderer.decoder.header()
            let draw = transform.draw(width: header.width, height: header.height, words: words)
            try renderer.render(header: header, draw: draw, cropPadding: isTraining ? transform.cropPadding : 0,
                                statistics: statistics, into: destination)
            return nil
        } catch {
            return error
        }
    }

    /// One renderer per worker, kept for the assembler's life.
    private final class WorkerPool: @unchecked Sendable {
        let renderers: [ImageRenderer]
        init(count: Int, size: Int, maxPixels: Int) {
            renderers = (0..<count).map { _ in ImageRenderer(size: size, maxPixels: maxPixels) }
        }
    }
}
