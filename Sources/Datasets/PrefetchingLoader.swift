import Dispatch
import Foundation

/// Batches for one rank, each prepared on a background thread while the previous one trains.
///
/// Two buffers take turns (double buffering): while the caller works on the batch in one, a producer
/// thread assembles the next into the other. No allocation happens per batch; the rank's index list is
/// rebuilt once per epoch.
///
///     producer:  wait free[s]   → assemble step s into buffer s mod 2 → signal full[s]
///     next():    signal free[previous] (the caller is done with it) → wait full[s] (timed) → view
///
/// Batches run in order through epochs, from (startEpoch, startStep), until `endEpoch` (exclusive) if
/// given, and are a pure function of (seed, epoch, step, rank) (see ``BatchAssembler``), so a resumed
/// run sees the same batches. ``waitSeconds`` totals how long ``next()`` blocked: the data-wait time a
/// trainer reports as a fraction of the step.
public final class PrefetchingLoader {
    /// Batches per epoch, the same on every rank.
    public let batchesPerEpoch: Int
    /// Images per full batch.
    public let batchSize: Int
    /// Shape of each image.
    public let shape: ImageShape
    /// Total seconds ``next()`` has waited for the producer.
    public private(set) var waitSeconds: Double = 0
    /// Seconds the latest ``next()`` waited.
    public private(set) var lastWaitSeconds: Double = 0
    /// Batches handed out so far.
    public private(set) var batchesDelivered = 0

    private let pipeline: Pipeline
    private let totalBatches: Int?

    /// A loader over `assembler`'s dataset for the rank and shard of `sampler`.
    /// - Parameters:
    ///   - dropLastBatch: leave out a partial last batch (training) or keep it (evaluation).
    ///   - startEpoch, startStep: where to begin (a resumed run passes its position).
    ///   - endEpoch: stop after the epoch before this one; nil runs on until ``stop()``.
    public init(assembler: any BatchAssembling, sampler: any EpochSampling, batchSize: Int, dropLastBatch: Bool,
                startEpoch: Int = 0, startStep: Int = 0, endEpoch: Int? = nil) {
        precondition(sampler.datasetCount == assembler.exampleCount,
                     "sampler over \(sampler.datasetCount) examples, dataset has \(assembler.exampleCount)")
        let perEpoch = sampler.batchCount(batchSize: batchSize, dropLastBatch: dropLastBatch)
        precondition(startStep >= 0 && (startStep < perEpoch || perEpoch == 0), "start step \(startStep) of \(perEpoch)")
        batchesPerEpoch = perEpoch
        self.batchSize = batchSize
        shape = assembler.imageShape
        totalBatches = endEpoch.map { max(0, ($0 - startEpoch) * perEpoch - startStep) }
        pipeline = Pipeline(assembler: assembler, sampler: sampler, batchSize: batchSize,
                            batchesPerEpoch: perEpoch, start: (startEpoch, startStep), totalBatches: totalBatches)
        if perEpoch > 0 && totalBatches != 0 { pipeline.launch() }
    }

    deinit { pipeline.stop() }

    /// The next batch, waiting for the producer if it is not ready; nil once `endEpoch` is reached (or
    /// when the shard holds no full batch). The previous batch's view becomes invalid.
    public func next() -> Batch? {
        if batchesDelivered > 0 { pipeline.release(sequence: batchesDelivered - 1) }
        guard batchesPerEpoch > 0, totalBatches.map({ batchesDelivered < $0 }) ?? true else { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        let batch = pipeline.take(sequence: batchesDelivered)
        lastWaitSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        waitSeconds += lastWaitSeconds
        batchesDelivered += 1
        return batch
    }

    /// Zeroes ``waitSeconds`` (e.g. after warm-up).
    public func resetWaitStatistics() { waitSeconds = 0 }

    /// Batches the background thread has assembled so far (delivered or waiting in a buffer): while
    /// the caller works on batch k, this reaches k + 2 without another `next()`. That is the overlap;
    /// its effect on time is measured by `multimix bench train --data`.
    public var batchesAssembled: Int { pipeline.lock.withLock { pipeline.assembled } }

    /// Stops the producer thread and waits for it to finish. Called by deinit; safe to call twice.
    public func stop() { pipeline.stop() }
}

extension PrefetchingLoader {
    /// The producer side: two buffers, their semaphores, and the thread that fills them.
    /// Unchecked: once the producer runs, the `var`s are touched only under `lock`, and each buffer and
    /// slot only by the side that holds it between the `free`/`full` semaphore hand-offs.
    private final class Pipeline: @unchecked Sendable {
        let assembler: any BatchAssembling
        let sampler: any EpochSampling
        let batchSize: Int
        let batchesPerEpoch: Int
        let start: (epoch: Int, step: Int)
        let totalBatches: Int?
        /// Two image buffers of batchSize · H·W·C floats, and two label buffers.
        let images: [UnsafeMutableBufferPointer<Float>]
        let labels: [UnsafeMutableBufferPointer<Int32>]
        /// The batch description of each buffer, written by the producer before signalling `full`
        /// (raw memory, so the two threads never touch a shared Swift array).
        let slots = UnsafeMutablePointer<Batch?>.allocate(capacity: 2)
        /// Created at 0 and signalled once in init: libdispatch traps when a semaphore is freed below
        /// its initial value, which a stopped producer can leave `free` at.
        let free = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let full = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let finished = DispatchSemaphore(value: 0)
        let lock = NSLock()
        var stopping = false
        var running = false
        /// Batches placed in a buffer so far (under `lock`).
        var assembled = 0

        init(assembler: any BatchAssembling, sampler: any EpochSampling, batchSize: Int, batchesPerEpoch: Int,
             start: (Int, Int), totalBatches: Int?) {
            self.assembler = assembler
            self.sampler = sampler
            self.batchSize = batchSize
            self.batchesPerEpoch = batchesPerEpoch
            self.start = start
            self.totalBatches = totalBatches
            let size = batchSize * assembler.imageShape.elementCount
            images = (0..<2).map { _ in
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: size)
                buffer.initialize(repeating: 0)
                return buffer
            }
            labels = (0..<2).map { _ in
                let buffer = UnsafeMutableBufferPointer<Int32>.allocate(capacity: batchSize)
                buffer.initialize(repeating: 0)
                return buffer
            }
            slots.initialize(repeating: nil, count: 2)
            free.forEach { $0.signal() }
        }

        deinit {
            images.forEach { $0.deallocate() }
            labels.forEach { $0.deallocate() }
            slots.deinitialize(count: 2)
            slots.deallocate()
        }

        func launch() {
            running = true
            let thread = Thread { [self] in produce() }
            thread.name = "multimix-prefetch"
            thread.start()
        }

        /// The producer loop: assemble batch after batch into alternate buffers.
        func produce() {
            defer { finished.signal() }
            var (epoch, step) = start
            var indices = sampler.indices(epoch: epoch)
            let realPerRank = sampler.realCount
            var sequence = 0
            while totalBatches.map({ sequence < $0 }) ?? true {
                let slot = sequence % 2
                free[slot].wait()
                if lock.withLock({ stopping }) { return }
                let first = step * batchSize
                let count = min(batchSize, indices.count - first)
                let report = indices.withUnsafeBufferPointer { all in
                    assembler.assemble(indices: UnsafeBufferPointer(rebasing: all[first ..< first + count]),
                                       epoch: epoch, step: step, rank: sampler.rank,
                                       images: images[slot], labels: labels[slot])
                }
                slots[slot] = Batch(epoch: epoch, step: step, count: count,
                                    realCount: min(count, max(0, realPerRank - first)), shape: assembler.imageShape,
                                    images: UnsafeBufferPointer(rebasing: images[slot][0 ..< count * assembler.imageShape.elementCount]),
                                    labels: UnsafeBufferPointer(rebasing: labels[slot][0 ..< count]),
                                    isLastOfEpoch: step == batchesPerEpoch - 1,
                                    badImages: report.badImages, failure: report.failure)
                lock.withLock { assembled += 1 }
                full[slot].signal()
                sequence += 1
                step += 1
                if step == batchesPerEpoch {
                    step = 0
                    epoch += 1
                    if totalBatches.map({ sequence < $0 }) ?? true { indices = sampler.indices(epoch: epoch) }
                }
            }
        }

        /// Waits for batch `sequence` and returns it.
        func take(sequence: Int) -> Batch {
            full[sequence % 2].wait()
            return slots[sequence % 2]!
        }

        /// The caller is done with batch `sequence`: its buffer may be refilled.
        func release(sequence: Int) { free[sequence % 2].signal() }

        /// Ends the producer thread (if running) and waits for it.
        func stop() {
            let wasRunning: Bool = lock.withLock {
                defer { stopping = true; running = false }
                return running && !stopping
            }
            guard wasRunning else { return }
            free.forEach { $0.signal() }
            finished.wait()
        }
    }
}
