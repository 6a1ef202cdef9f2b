import ArgumentParser
import Checkpointing
import Datasets
import Foundation
import RunOutputs
import SafeFiles
import Studies
import SwiftMPI
import Training

/// `multimix study`: every variant of a base config with every seed, one training run after another
/// in the same MPI job, then the study's tables and report (``StudyResults``, ``StudyReport``).
struct Study: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a study (variants × seeds of a base config) and tabulate and plot its results.",
        discussion: """
            The study file names a base train config (relative to the study file's folder), the seeds, \
            overrides for all variants, and the variants with their own overrides. Every rank checks \
            it, and every run's config, before any MPI work. The runs go seed by seed (every variant \
            with the first seed, then the next), into RUN_DIR_ROOT/NAME/VARIANT-sNN/, as multimix train would run them (resuming \
            from their checkpoints); a run whose folder holds finished.json is skipped (refused if \
            the study has since changed that run's config; training.threads does not count). Rank 0 \
            then writes results.csv, results.md and report.html into RUN_DIR_ROOT/NAME/.
            Exit codes as multimix train's: 0 done; 1 error; 3 non-finite loss; 4 ranks disagree; \
            75 stopped by SIGTERM/SIGUSR1 after a checkpoint (run the same command again to continue).
            Example: mpirun -np 2 multimix study --config configs/studies/fashion-mnist-resnet20.yaml
            """
    )

    @Option(help: "The study's YAML file.")
    var config: String

    @Flag(help: "Run nothing (no MPI): rebuild results.csv, results.md and report.html from the run folders there are.")
    var reportOnly = false

    @Option(help: "The folder holding study folders: runs go to RUN_DIR_ROOT/NAME/VARIANT-sNN.")
    var runDirRoot = "runs"

    func validate() throws {
        try Train.requireFolderName(runDirRoot, flag: "--run-dir-root", rootAllowed: true)
    }

    func run() throws {
        // 1. The study file and every run's config (and data, unless only reporting), before MPI.
        let studyFile = URL(fileURLWithPath: config)
        let study: StudyConfig
        do {
            study = try StudyConfig.load(contentsOf: studyFile)
            if !reportOnly { try Study.checkData(study, file: studyFile.path) }
        } catch {
            JobExit.fail(error)
        }
        let folder = study.folder(root: URL(fileURLWithPath: runDirRoot))
        if reportOnly { Study.report(study, folder: folder, studyFile: studyFile) }

        // 2. MPI, then the runs.
        let world = Train.joinWorld()
        let progress = ProgressReporter()
        let isRoot = world.rank == 0
        let runFolders = study.runs.map { folder.appendingPathComponent($0.name) }
        let finished: [Bool]
        do {
            finished = try FinishedMarker.finishedRuns(zip(study.runs, runFolders).map { ($0.config, $1) }, communicator: world)
        } catch {
            JobExit.leave(after: error, world: world, context: "study \(study.name)")
        }
        let finalTests: [FinalTestState]
        do {
            finalTests = study.finalTest ? try FinalTestState.of(runFolders, finished: finished, communicator: world)
                                         : Array(repeating: .nothing, count: runFolders.count)
        } catch {
            JobExit.leave(after: error, world: world, context: "study \(study.name)")
        }
        func makeTrainer(_ index: Int) throws -> Trainer {
            try Trainer(config: study.runs[index].config, communicator: world, runDirectory: runFolders[index],
                        resume: .auto, progress: progress,
                        configChange: .refuse(fix: "restore the study's settings, or move \(runFolders[index].path) away to run it again"))
        }
        var clock = StudyClock(toTrain: finished.filter { !$0 }.count)
        for (index, run) in study.runs.enumerated() {
            let label = "study \(study.name): run \(index + 1)/\(study.runs.count) \(run.name)"
            if finished[index] {
                clock.skipped += 1
                switch finalTests[index] {
                case .nothing:
                    if isRoot { progress.message("\(label): skipped, finished") }
                case .noCheckpoint:
                    if isRoot { progress.message("\(label): finished, but without \(TestSplitResult.fileName) or a checkpoint to evaluate: the study's test split stays sealed; delete \(runFolders[index].path) to train it again") }
                case .toEvaluate:
                    if isRoot { progress.message("\(label): finished; its final checkpoint on the test split (final_test)") }
                    do {
                        _ = try makeTrainer(index).evaluateTestSplitOnce()
                    } catch {
                        JobExit.leave(after: error, world: world, context: "study \(study.name): \(run.name)")
                    }
                }
                continue
            }
            if isRoot { progress.message("\(label) (\(clock.skipped) skipped, finished), ETA \(clock.eta)") }
            let start = MPI.wallTime
            do {
                let trainer = try makeTrainer(index)
                let outcome = try trainer.run()
                if isRoot { try? trainer.writeReport() }
                if case .preempted = outcome {
                    if isRoot { progress.message("study \(study.name): stopped by a signal in \(run.name) after its checkpoint; run the same command again to continue") }
                    try? MPI.finalize()
                    Foundation.exit(JobExit.stopped)
                }
                // The test split once, before finished.json: a finished run of such a study has its test.json.
                if study.finalTest { _ = try trainer.evaluateTestSplitOnce() }
                try trainer.markFinished(wallSeconds: MPI.wallTime - start)
            } catch {
                JobExit.leave(after: error, world: world, context: "study \(study.name): \(run.name)")
            }
            clock.trained(seconds: MPI.wallTime - start)
        }

        // 3. The tables and the report (rank 0).
        var status = JobExit.success
        if isRoot {
            do {
                try Study.writeResults(study, folder: folder, studyFile: studyFile, progress: progress)
            } catch {
                JobExit.report(error)
                status = JobExit.failure
            }
        }
        try? MPI.finalize()
        Foundation.exit(status)
    }

    /// Every run's data exists (each dataset folder checked once), as `multimix train` checks it.
    static func checkData(_ study: StudyConfig, file: String) throws {
        var checked = Set<String>()
        for run in study.runs where checked.insert(run.config.data.root).inserted {
            do {
                try Train.checkData(run.config)
            } catch {
                throw StudyError(file: file, location: "run \(run.name)", message: "\(error)")
            }
        }
    }

    /// `--report-only`: one process (rank 0 of an MPI launch, the others leave at once), no MPI calls.
    static func report(_ study: StudyConfig, folder: URL, studyFile: URL) -> Never {
        let environment = ProcessInfo.processInfo.environment
        if let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMI_RANK"], rank != "0" { Foundation.exit(JobExit.success) }
        do {
            try writeResults(study, folder: folder, studyFile: studyFile, progress: ProgressReporter(isTerminal: false))
        } catch {
            JobExit.fail(error)
        }
        Foundation.exit(JobExit.success)
    }

    /// Reads the run folders and writes results.csv, results.md and report.html; says what it wrote
    /// and which runs are missing. Refuses to write a study with no evaluated run at all.
    static func writeResults(_ study: StudyConfig, folder: URL, studyFile: URL, progress: ProgressReporter) throws {
        let results = try StudyResults.read(study, folder: folder)
        guard !results.runs.isEmpty else {
            throw StudyError(file: studyFile.path, location: "results",
                             message: "no run under \(folder.path) has an evaluation yet; run the study first (without --report-only)")
        }
        try results.writeTables(to: folder)
        try StudyReport.write(results, to: folder, studyYAML: try? SafeFile.readText(studyFile.path, fix: ""))
        let total = study.runs.count
        var line = "study \(study.name): \(results.runs.count) of \(total) runs in \(folder.path)/results.csv, results.md, report.html, top1.svg"
        if !results.missing.isEmpty { line += "; missing: \(results.missing.joined(separator: ", "))" }
        if !results.unfinished.isEmpty { line += "; unfinished: \(results.unfinished.joined(separator: ", "))" }
        progress.message(line)
        // final_test: the test split's tables once every run has its test.json, never for a part of the study.
        guard study.finalTest else { return }
        if let tested = results.testSplitResults() {
            try tested.writeTables(to: folder, stem: "results-test")
            progress.message("study \(study.name): the test split, all \(total) runs: \(folder.path)/results-test.csv, results-test.md")
        } else {
            progress.message("study \(study.name): the test split is sealed until every run has finished with its \(TestSplitResult.fileName) (\(results.testedRunCount) of \(total) have)")
        }
    }
}

/// The study's progress counts and its ETA: the mean wall time of the runs trained in this
/// invocation times the runs left to train.
struct StudyClock {
    /// Runs to train in this invocation (not finished before it).
    let toTrain: Int
    /// Runs skipped so far because they had finished.
    var skipped = 0
    private var trainedCount = 0, seconds = 0.0

    init(toTrain: Int) { self.toTrain = toTrain }

    /// Counts a run trained in `seconds`.
    mutating func trained(seconds: Double) {
        trainedCount += 1
        self.seconds += seconds
    }

    /// "41m00s" (the run about to start included), or "?" before the first run has finished.
    var eta: String {
        guard trainedCount > 0 else { return "?" }
        return ProgressReporter.duration(seconds / Double(trainedCount) * Double(toTrain - trainedCount))
    }
}
