import Foundation
import Tensors

/// Which examples a rank reads from tar shards in an epoch, in order, as a pure function of the
/// index (examples per shard) and (seed, epoch, rank): the shards permuted per epoch (the `.shuffle`
/// stream keyed by (seed, epoch), the same on every rank), rank r takes shards r, r + R, … and reads
/// each front to back, and a shuffle buffer of ``shuffleBuffer`` examples emits them in an order
/// drawn from the `.shardBuffer` stream keyed by (seed, epoch, rank): once full, each arriving example
/// takes the place of a uniformly chosen one, which is emitted; at the end the rest leave in random
/// order. Every rank emits ``samplesPerRank`` examples: the sum of the ⌊S / R⌋ smallest shards,
/// which no rank's shards fall short of in any epoch, so ranks run the same steps.
///
/// With a buffer of 1 a rank's examples come in shard order, as packed.
public struct ShardSampler: EpochSampling, Equatable {
    /// Examples per shard, in the index's order.
    public let shardCounts: [Int]
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64
    /// Examples the shuffle buffer holds (at least 1).
    public let shuffleBuffer: Int
    /// The first example (global index) of each shard.
    public let starts: [Int]
    public let datasetCount: Int
    public let samplesPerRank: Int

    public init(shardCounts: [Int], worldSize: Int, rank: Int, seed: UInt64, shuffleBuffer: Int) {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize, "rank \(rank) of world size \(worldSize)")
        precondition(shuffleBuffer >= 1, "shuffle buffer \(shuffleBuffer)")
        self.shardCounts = shardCounts
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffleBuffer = shuffleBuffer
        var starts = [Int](), total = 0
        for count in shardCounts {
            starts.append(total)
            total += count
        }
        self.starts = starts
        datasetCount = total
        samplesPerRank = shardCounts.sorted().prefix(shardCounts.count / worldSize).reduce(0, +)
    }

    public var realCount: Int { samplesPerRank }

    /// This rank's shards for epoch `epoch`, in reading order.
    public func shards(epoch: Int) -> [Int] {
        var stream = RandomStream(seed: seed, epoch: epoch, step: 0, rank: 0, purpose: .shuffle)
        let order = stream.permutation(count: shardCounts.count)
        return stride(from: rank, to: order.count, by: worldSize).map { order[$0] }
    }

    public func indices(epoch: Int) -> [Int] {
        guard samplesPerRank > 0 else { return [] }
        var stream = RandomStream(seed: seed, epoch: epoch, step: 0, rank: rank, purpose: .shardBuffer)
        var buffer = [Int](), emitted = [Int]()
        buffer.reserveCapacity(min(shuffleBuffer, samplesPerRank))
        emitted.reserveCapacity(samplesPerRank)
        for shard in shards(epoch: epoch) {
            for incoming in starts[shard] ..< starts[shard] + shardCounts[shard] {
                if buffer.count < shuffleBuffer {
                    buffer.append(incoming)
                    continue
                }
                let chosen = stream.nextInt(below: shuffleBuffer)
                emitted.append(buffer[chosen])
                buffer[chosen] = incoming
                if emitted.count == samplesPerRank { return emitted }
            }
        }
        while emitted.count < samplesPerRank {
            let chosen = stream.nextInt(below: buffer.count)
            buffer.swapAt(chosen, buffer.count - 1)
            emitted.append(buffer.removeLast())
        }
        return emitted
    }
}

/// Assembles batches from tar shards: the examples a batch needs are read sequentially from the
/// rank's shards (``ShardReader``) on the loader's thread, their bytes held until used (the shuffle
/// buffer), then decoded and transformed by ``ImageBatchRenderer``, as image files are. The order
/// comes from the sampler alone, so a batch is a pure function of (seed, epoch, step, rank): a loader
/// started at (epoch, step) plans the epoch again and reads only the data still to come (earlier
/// examples' data is skipped, not read). With `data.on_bad_image: skip`, a failing image is replaced
/// by another of its class in the same batch. A shard that cannot be read fails the batch.
public struct ShardAssembler: BatchAssembling {
    /// The folder holding the shards.
    public let folder: String
    /// The split read.
    public let split: ShardIndex.Split
    /// Number of classes (labels are checked against it).
    public let classCount: Int
    /// The order of each epoch.
    public let sampler: any EpochSampling
    /// Full batches' size (a batch at step s starts at example s · batchSize of the order).
    public let batchSize: Int
    let renderer: ImageBatchRenderer
    /// The shards to read in epoch e, in order (they hold every example of `sampler.indices(e)`).
    private let plan: @Sendable (Int) -> [Int]
    private let stream = ShardStream()

    init(folder: String, split: ShardIndex.Split, classCount: Int, sampler: any EpochSampling, batchSize: Int,
         renderer: ImageBatchRenderer, plan: @escaping @Sendable (Int) -> [Int]) {
        self.folder = folder
        self.split = split
        self.classCount = classCount
        self.sampler = sampler
        self.batchSize = batchSize
        self.renderer = renderer
        self.plan = plan
    }

    public var exampleCount: Int { split.count }
    public var imageShape: ImageShape { renderer.imageShape }

    public func assemble(indices: UnsafeBufferPointer<Int>, epoch: Int, step: Int, rank: Int,
                         images: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) -> AssemblyReport {
        precondition(labels.count >= indices.count, "batch buffers too small")
        if stream.epoch != epoch || stream.nextStep != step { start(epoch: epoch, step: step) }
        var examples = [ShardStream.Example]()
        do {
            for index in indices { examples.append(try stream.take(index, assembler: self)) }
        } catch {
            stream.epoch = -1
            images.update(repeating: 0)
            return AssemblyReport(failure: error.description)
        }
        stream.nextStep += 1
        // Replacements (on_bad_image: skip): the other examples of the class in this batch.
        var groups = [Int32: [Int]](), place = [Int]()
        for (position, example) in examples.enumerated() {
            labels[position] = example.label
            place.append(groups[example.label, default: []].count)
            groups[example.label, default: []].append(position)
        }
        return renderer.render(count: examples.count, epoch: epoch, step: step, rank: rank, images: images,
                               replacements: { groups[examples[$0].label]!.count - 1 },
                               candidate: { position, attempt in
                                   let group = groups[examples[position].label]!
                                   return group[(place[position] + attempt) % group.count]
                               },
                               load: { candidate, decoder in decoder.use(bytes: examples[candidate].image) },
                               name: { examples[$0].name })
    }

    /// Plans epoch `epoch` from step `step` on: which examples are still to be used, and how often.
    private func start(epoch: Int, step: Int) {
        let order = sampler.indices(epoch: epoch)
        var uses = [Int: Int]()
        for index in order.dropFirst(min(order.count, step * batchSize)) { uses[index, default: 0] += 1 }
        stream.reset(epoch: epoch, step: step, uses: uses, shards: plan(epoch))
    }

    /// The path of shard `number`.
    func path(of number: Int) -> String { (folder as NSString).appendingPathComponent(split.shards[number].file) }
}

/// The reading state of a ``ShardAssembler``: touched only by the loader's producer thread.
final class ShardStream: @unchecked Sendable {
    struct Example {
        let image: [UInt8]
        let label: Int32
        let name: String
    }

    var epoch = -1
    var nextStep = -1
    /// Uses still to come of each example of the epoch's order.
    private var uses: [Int: Int] = [:]
    /// Examples read and not yet used up.
    private var pending: [Int: Example] = [:]
    private var shards: [Int] = []
    private var nextShard = 0
    private var reader: ShardReader?
    private var readerIndex = 0

    func reset(epoch: Int, step: Int, uses: [Int: Int], shards: [Int]) {
        self.epoch = epoch
        nextStep = step
        self.uses = uses
        self.shards = shards
        pending = [:]
        nextShard = 0
        reader = nil
    }

    /// Example `index`, reading on through the shards until it has been read.
    func take(_ index: Int, assembler: ShardAssembler) throws(DatasetError) -> Example {
        while pending[index] == nil {
            if reader?.remaining ?? 0 == 0 {
                guard nextShard < shards.count else {
                    throw DatasetError(.inconsistent, path: assembler.folder, problem: "example \(index) is in none of this rank's shards",
                                       fix: "report this: the epoch's order and its shards disagree")
                }
                let number = shards[nextShard]
                nextShard += 1
                reader = try ShardReader(path: assembler.path(of: number), examples: assembler.split.shards[number].examples,
                                         classCount: assembler.classCount)
                readerIndex = (assembler.sampler as? ShardSampler)?.starts[number]
                    ?? assembler.split.shards[..<number].reduce(0) { $0 + $1.examples }
            }
            let global = readerIndex
            let wanted = uses[global] != nil
            guard let example = try reader!.next(keep: wanted) else { continue }
            readerIndex += 1
            if wanted {
                pending[global] = Example(image: example.image!, label: example.label,
                                          name: "\(reader!.path):\(PathTable.display(example.name.utf8))")
            }
        }
        let example = pending[index]!
        let left = uses[index, default: 1] - 1
        if left <= 0 {
            uses[index] = nil
            pending[index] = nil
        } else {
            uses[index] = left
        }
        return example
    }
}

/// A folder of tar shards (``ShardPacker``'s, `data.dataset: shards`) ready to train on: the training
/// shards streamed per rank through a shuffle buffer (``ShardSampler``), the `val` shards evaluated
/// in order, every example once across ranks (padded as ``DistributedSampler/Tail/pad``). Images are
/// decoded and transformed as an image folder's (``ImageFolderPipeline/Settings``).
public struct ShardPipeline: TrainingData {
    public let folder: String
    public let index: ShardIndex
    public let settings: ImageFolderPipeline.Settings
    /// Examples each rank's shuffle buffer holds.
    public let shuffleBuffer: Int
    public let source: DatasetSource

    /// Reads and checks `folder/index.json` (and that every shard is there, whole).
    public init(folder: String, settings: ImageFolderPipeline.Settings, shuffleBuffer: Int) throws {
        precondition(shuffleBuffer >= 1, "shuffle buffer \(shuffleBuffer)")
        index = try ShardIndex(folder: folder)
        self.folder = folder
        self.settings = settings
        self.shuffleBuffer = shuffleBuffer
        source = DatasetSource(format: .shards, root: folder)
    }

    public var statistics: ChannelStatistics { settings.statistics }
    public var inputShape: ImageShape { ImageShape(height: settings.imageSize, width: settings.imageSize, channels: 3) }
    public var classCount: Int { index.classNames.count }
    public var trainCount: Int? { index.train.count }
    public var testCount: Int? { index.val?.count }
    public func validationInPlaceOfTest() -> (any TrainingData)? { nil }
    /// Each rank reads its own shards: the order of an epoch depends on the number of ranks.
    public var keepsOrderAcrossWorldSizes: Bool { false }

    public func trainingSampler(rank: Int, worldSize: Int, seed: UInt64) -> any EpochSampling {
        ShardSampler(shardCounts: index.train.shards.map(\.examples), worldSize: worldSize, rank: rank, seed: seed,
                     shuffleBuffer: shuffleBuffer)
    }

    /// `augmentation` and `tail` are unused (the settings' transforms apply; every rank gets
    /// ``ShardSampler/samplesPerRank`` examples).
    public func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int, augmentation: Augmentation?,
                               tail: DistributedSampler.Tail, startEpoch: Int, startStep: Int, endEpoch: Int?) -> PrefetchingLoader {
        let sampler = ShardSampler(shardCounts: index.train.shards.map(\.examples), worldSize: worldSize, rank: rank, seed: seed,
                                   shuffleBuffer: shuffleBuffer)
        let assembler = ShardAssembler(folder: folder, split: index.train, classCount: classCount, sampler: sampler,
                                       batchSize: batchSize, renderer: renderer(isTraining: true, seed: seed),
                                       plan: { sampler.shards(epoch: $0) })
        return PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: batchSize, dropLastBatch: true,
                                 startEpoch: startEpoch, startStep: startStep, endEpoch: endEpoch)
    }

    public func evaluationLoader(rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader {
        guard let val = index.val else { preconditionFailure("\(folder) has no val shards") }
        let sampler = DistributedSampler(datasetCount: val.count, worldSize: worldSize, rank: rank, shuffle: false, seed: 0, tail: .pad)
        let all = Array(val.shards.indices)
        let assembler = ShardAssembler(folder: folder, split: val, classCount: classCount, sampler: sampler, batchSize: batchSize,
                                       renderer: renderer(isTraining: false, seed: 0), plan: { _ in all })
        return PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: batchSize, dropLastBatch: false, endEpoch: 1)
    }

    /// Evaluation never skips a bad image (it would change the metric silently): it reports it.
    private func renderer(isTraining: Bool, seed: UInt64) -> ImageBatchRenderer {
        ImageBatchRenderer(transform: isTraining ? settings.trainingTransform : settings.evaluationTransform,
                           statistics: settings.statistics, isTraining: isTraining, seed: seed, workers: settings.workers,
                           onBadImage: isTraining ? settings.onBadImage : .error, maxImagePixels: settings.maxImagePixels)
    }
}
