import Datasets
import Distributed
import Foundation
import RunOutputs
import Evaluation
import Checkpointing
import RunConfig

extension Trainer {
    /// Evaluates on the test split (or, with `eval.split: validation`, the held-out validation
    /// examples), shared out over the ranks, after averaging BatchNorm's running statistics; rank 0
    /// prints and logs the metrics. Returns `false`, with nothing logged, when a stop signal (agreed
    /// across the ranks after every batch) ended it early.
    func evaluate() throws -> Bool {
        try statistics.average()
        let evaluated = config.eval.split == .validation ? data.validationInPlaceOfTest()! : data
        var evaluator = Evaluator(model: model, communicator: communicator)
        evaluator.onBatch = { [watchdog] in watchdog.beat() }
        evaluator.stopRequested = { PreemptionSignal.isRequested }
        if communicator.rank == 0 { progress.message("evaluating after epoch \(position.epoch)") }
        let metrics: [String: Double]
        var details: EvaluationDetails
        do {
            (metrics, details) = try evaluator.evaluateWithDetails(evaluated, outOfDistributionSets: setup.outOfDistributionSets)
        } catch is Evaluator.EvaluationStopped {
            return false
        }
        evaluationPending = false
        lastMetrics.merge(metrics) { _, new in new }
        guard communicator.rank == 0 else { return true }
        let shown = ([MetricName.top1, MetricName.top5, MetricName.nll, MetricName.ece, MetricName.alignment, MetricName.uniformity]
                     + OODTable.sets(in: metrics).map { OODTable.key($0, "auroc") })
            .compactMap { name in metrics[name].map { String(format: "%@ %.4f", name, $0) } }
        progress.message("eval after epoch \(position.epoch): " + shown.joined(separator: "  "))
        try log?.append(MetricsRecord(kind: .eval, step: position.globalStep, epoch: Double(position.epoch), values: metrics))
        try log?.tensorBoard.appendHistogram(tag: TensorBoardLog.parametersTag, step: position.globalStep,
                                         values: UnsafeBufferPointer(start: model.arena.values, count: model.arena.trainableCount))
        (details.step, details.epoch) = (position.globalStep, Double(position.epoch))
        if log != nil { try details.write(toRunFolder: runDirectory) }
        try writeReport()
        return true
    }

    /// A resumed run whose checkpoint was written when a stop signal ended its evaluation evaluates
    /// first, unless the metrics log already holds that evaluation. `false`: stopped again.
    func runPendingEvaluation() throws -> Bool {
        guard evaluationPending else { return true }
        var logged: [Int64] = [0]
        if communicator.rank == 0, let log {
            logged[0] = try MetricsLog.read(log.metrics.url).contains { $0.kind == .eval && $0.step == position.globalStep } ? 1 : 0
        }
        try communicator.broadcast(&logged, root: 0)
        if logged[0] == 1 {
            evaluationPending = false
            return true
        }
        return try evaluate()
    }
}

extension Trainer {
    /// The test split, once, on the model as it stands (a study's `final_test`, after the run has
    /// finished on the validation split): BatchNorm's running statistics averaged, the batches shared
    /// out over the ranks, the run's OOD sets as in its evaluations; nothing logged or printed. Rank 0
    /// writes the run folder's `test.json`; every rank learns whether that worked and gets the result.
    public func evaluateTestSplitOnce() throws -> TestSplitResult {
        try statistics.average()
        var evaluator = Evaluator(model: model, communicator: communicator)
        evaluator.onBatch = { [watchdog] in watchdog.beat() }
        let metrics = try evaluator.evaluate(data, outOfDistributionSets: setup.outOfDistributionSets)
        let result = TestSplitResult(step: position.globalStep, epoch: position.epoch, metrics: metrics)
        try consensus.rootDecides("writing \(TestSplitResult.fileName)") { try result.write(runFolder: runDirectory) }
        return result
    }
}
