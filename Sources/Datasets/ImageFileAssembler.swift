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
/// (``ImageBatchRenderer``), by `workers` threads, image i of the batch by worker i mod workers.
///
/// A batch is a pure function of (seed, epoch, step, rank) and the indices, as with
/// ``BatchAssembler``, so resumed runs and any worker count see the same pixels. With
/// ``BadImagePolicy/skip``, a failing image is replaced by the next image of its class that decodes
/// (deterministic too); with ``BadImagePolicy/error``, the batch reports the failure.
public struct ImageFileAssembler: BatchAssembling {
    /// The examples.
    public let files: ImageFileList
    /// Decoding, transform, workers and the bad-image policy.
    let renderer: ImageBatchRenderer
    /// How many other images of the class are tried in place of a failing one.
    public static let replacementTries = ImageBatchRenderer.replacementTries

    /// Each class's examples in order, and each example's place in its class (for replacements).
    private let classMembers: [[Int]]
    private let placeInClass: [Int]

    public init(files: ImageFileList, transform: ImageTransform, statistics: ChannelStatistics, isTraining: Bool,
                seed: UInt64, workers: Int = 1, onBadImage: BadImagePolicy = .error, maxImagePixels: Int) {
        self.files = files
        renderer = ImageBatchRenderer(transform: transform, statistics: statistics, isTraining: isTraining, seed: seed,
                                      workers: workers, onBadImage: onBadImage, maxImagePixels: maxImagePixels)
        var members = [[Int]](repeating: [], count: files.classCount)
        var place = [Int](repeating: 0, count: files.count)
        for (index, label) in files.labels.enumerated() {
            place[index] = members[Int(label)].count
            members[Int(label)].append(index)
        }
        classMembers = members
        placeInClass = place
    }

    /// Crop, resize and flip.
    public var transform: ImageTransform { renderer.transform }
    /// Normalisation (3 channels).
    public var statistics: ChannelStatistics { renderer.statistics }
    /// Whether this is a training loader (random choices) or an evaluation one (none).
    public var isTraining: Bool { renderer.isTraining }
    /// The run's seed.
    public var seed: UInt64 { renderer.seed }
    /// Decoding threads.
    public var workers: Int { renderer.workers }
    /// Failing images.
    public var onBadImage: BadImagePolicy { renderer.onBadImage }
    public var exampleCount: Int { files.count }
    public var imageShape: ImageShape { renderer.imageShape }

    public func assemble(indices: UnsafeBufferPointer<Int>, epoch: Int, step: Int, rank: Int,
                         images: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) -> AssemblyReport {
        precondition(labels.count >= indices.count, "batch buffers too small")
        for (position, index) in indices.enumerated() { labels[position] = files.labels[index] }
        let (files, classMembers, placeInClass) = (files, classMembers, placeInClass)
        return renderer.render(count: indices.count, epoch: epoch, step: step, rank: rank, images: images,
                               replacements: { classMembers[Int(files.labels[indices[$0]])].count - 1 },
                               candidate: { position, attempt in
                                   let index = indices[position]
                                   guard attempt > 0 else { return index }
                                   let members = classMembers[Int(files.labels[index])]
                                   return members[(placeInClass[index] + attempt) % members.count]
                               },
                               load: { candidate, decoder throws(ImageDecodeError) in try decoder.read(files, example: candidate) },
                               name: { files.displayPath(of: $0) })
    }
}

/// Decodes a batch's images through the transform into its buffer, in one pass per image
/// (``ImageResampler``), by `workers` threads, image i of the batch by worker i mod workers, with the
/// bad-image policy; where the bytes come from (files, tar shards) is the caller's. Shared by
/// ``ImageFileAssembler`` and ``ShardAssembler``, so both give the same pixels for the same bytes.
struct ImageBatchRenderer: Sendable {
    let transform: ImageTransform
    let statistics: ChannelStatistics
    let isTraining: Bool
    let seed: UInt64
    let workers: Int
    let onBadImage: BadImagePolicy
    /// How many other images are tried in place of a failing one.
    static let replacementTries = 8
    private let pool: WorkerPool

    init(transform: ImageTransform, statistics: ChannelStatistics, isTraining: Bool, seed: UInt64, workers: Int,
         onBadImage: BadImagePolicy, maxImagePixels: Int) {
        precondition(statistics.mean.count == 3, "image folders are RGB: 3 channel statistics, got \(statistics.mean.count)")
        precondition(workers >= 1, "workers \(workers)")
        self.transform = transform
        self.statistics = statistics
        self.isTraining = isTraining
        self.seed = seed
        self.workers = workers
        self.onBadImage = onBadImage
        pool = WorkerPool(count: workers, size: transform.size, maxPixels: maxImagePixels)
    }

    var imageShape: ImageShape { ImageShape(height: transform.size, width: transform.size, channels: 3) }

    /// Fills positions 0..<count of `images`: position p from `candidate(p, 0)`, read into a decoder
    /// by `load`; with ``BadImagePolicy/skip``, when it fails, the first of `candidate(p, 1...)` (at
    /// most `replacements(p)` and ``replacementTries``) that decodes. `name` names a candidate in the
    /// failure. The closures are called from the worker threads and must only read.
    func render(count: Int, epoch: Int, step: Int, rank: Int, images: UnsafeMutableBufferPointer<Float>,
                replacements: @escaping (Int) -> Int, candidate: @escaping (Int, Int) -> Int,
                load: @escaping (Int, ImageDecoder) throws(ImageDecodeError) -> Void,
                name: @escaping (Int) -> String) -> AssemblyReport {
        let size = imageShape.elementCount
        precondition(images.count >= count * size, "batch buffers too small")
        let stream = RandomStream(seed: seed, epoch: epoch, step: step, rank: rank, purpose: .resizedCrop)
        let reports = UnsafeMutableBufferPointer<AssemblyReport>.allocate(capacity: workers)
        reports.initialize(repeating: .clean)
        defer { reports.deallocate() }
        let work = { (worker: Int) in
            var position = worker
            while position < count {
                let words = isTraining ? ImageTransform.Words(stream: stream, position: position) : nil
                let tries = onBadImage == .skip ? min(Self.replacementTries, replacements(position)) : 0
                writeImage(tries: tries, candidate: { candidate(position, $0) }, load: load, name: name, words: words,
                           worker: worker, report: &reports[worker], into: images.baseAddress! + position * size)
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

    /// Decodes `candidate(0)` (or, with `tries` > 0, the first replacement that decodes) into `destination`.
    private func writeImage(tries: Int, candidate: (Int) -> Int, load: (Int, ImageDecoder) throws(ImageDecodeError) -> Void,
                            name: (Int) -> String, words: ImageTransform.Words?, worker: Int, report: inout AssemblyReport,
                            into destination: UnsafeMutablePointer<Float>) {
        let renderer = pool.renderers[worker]
        var firstFailure: String?
        for attempt in 0...max(0, tries) {
            let chosen = candidate(attempt)
            if let failure = decode(chosen, load: load, words: words, renderer: renderer, into: destination) {
                if firstFailure == nil { firstFailure = "\(name(chosen)): \(failure.reason)" }
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

    /// Decodes `candidate` through the transform into `destination`; the error, if it failed.
    private func decode(_ candidate: Int, load: (Int, ImageDecoder) throws(ImageDecodeError) -> Void, words: ImageTransform.Words?,
                        renderer: ImageRenderer, into destination: UnsafeMutablePointer<Float>) -> ImageDecodeError? {
        do {
            try load(candidate, renderer.decoder)
            let header = try renderer.decoder.header()
            let draw = transform.draw(width: header.width, height: header.height, words: words)
            try renderer.render(header: header, draw: draw, cropPadding: isTraining ? transform.cropPadding : 0,
                                statistics: statistics, into: destination)
            return nil
        } catch {
            return error
        }
    }

    /// One renderer per worker, kept for the renderer's life.
    private final class WorkerPool: @unchecked Sendable {
        let renderers: [ImageRenderer]
        init(count: Int, size: Int, maxPixels: Int) {
            renderers = (0..<count).map { _ in ImageRenderer(size: size, maxPixels: maxPixels) }
        }
    }
}
