import Layers
import SwiftMPI

/// BatchNorm's running statistics across the ranks. Each rank's forward passes update its own (each
/// sees other batches); an evaluation or a checkpoint averages them over the ranks first, and a step
/// that is undone (a non-finite loss skipped, an image that did not decode) puts back the copy taken
/// before it.
final class RunningStatistics {
    /// The statistics, in the model's arena.
    let values: UnsafeMutableBufferPointer<Float>
    let communicator: Communicator
    /// Whether `values` are the cross-rank average (no training forward since): averaging again
    /// would only round them differently.
    var isAveraged = false
    /// The copy from before the current step, sized once.
    private var beforeStep: [Float] = []

    /// The name of each rank's own statistics (world size × count, rank order) in
    /// `optimizer.safetensors`, saved by a stop where the run that never stopped keeps them apart
    /// (mid-epoch): a resume on as many ranks continues from them, bit for bit. `model.safetensors`
    /// holds their average, as at every checkpoint.
    static let perRankName = "running_statistics.per_rank"

    init(arena: ParameterArena, communicator: Communicator) {
        values = arena.runningStatistics
        self.communicator = communicator
    }

    /// Keeps a copy to put back if the coming step is undone.
    func keepCopyBeforeStep() {
        if beforeStep.count != values.count { beforeStep = [Float](repeating: 0, count: values.count) }
        _ = beforeStep.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: values) }
    }

    /// Puts back the copy from before the step.
    func undoStep() {
        _ = values.update(fromContentsOf: beforeStep)
    }

    /// Averages the statistics over the ranks (once: a no-op until the next training forward).
    func average() throws {
        guard mayDifferAcrossRanks else { return }
        try communicator.allreduce(values, op: .sum)
        let scale = 1 / Float(communicator.size)
        for i in values.indices { values[i] *= scale }
        isAveraged = true
    }

    /// Whether the ranks' statistics may differ (several ranks, training forwards since the last average).
    var mayDifferAcrossRanks: Bool { communicator.size > 1 && values.count > 0 && !isAveraged }

    /// `own` (this rank's statistics, copied earlier) become its statistics again, apart from the others'.
    func restore(own: [Float]) {
        _ = values.update(fromContentsOf: own)
        isAveraged = false
    }

    /// This rank's row of `rows` (world size × count) becomes its statistics again.
    func takeOwnRow(of rows: [Float]) {
        _ = values.update(fromContentsOf: rows[communicator.rank * values.count ..< (communicator.rank + 1) * values.count])
        isAveraged = false
    }
}
