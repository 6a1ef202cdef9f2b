import Foundation
import Studies
import TestSupport
import XCTest

/// A long study outlives the session that runs it, so its finished runs are kept in the repository
/// (`docs/studies/STUDY/runs/RUN/`: config, metrics, finished.json, test.json; no checkpoints) and
/// rebuilt into `runs/STUDY/` to continue it or to redo its tables. Stage 1 of the regime study lost
/// its 16 runs that way: the ignore rule `runs/` matched the kept copies too and nothing was committed.
final class KeptStudyRunsTests: XCTestCase {
    let fileManager = FileManager.default
    let keptStudies = Repository.root.appendingPathComponent("docs/studies")

    /// `git check-ignore` on paths inside the repository: 0 ignored, 1 not ignored.
    func gitIgnores(_ path: String) throws -> Bool {
        let git = try MPIRun.launch(["git", "-C", Repository.root.path, "check-ignore", "--quiet", "--no-index", path], timeout: 30)
        XCTAssert(git.status == 0 || git.status == 1, "git check-ignore \(path): status \(git.status)\n\(git.output)")
        return git.status == 0
    }

    /// Every file a kept run holds is one git would commit; the repository's own run folder is not.
    func testGitKeepsAStudysRunFilesButNotTheRunFolder() throws {
        guard fileManager.fileExists(atPath: Repository.root.appendingPathComponent(".git").path) else {
            throw XCTSkip("not a git checkout: nothing decides what is committed")
        }
        for file in ["config.yaml", "metrics.jsonl", "finished.json", "test.json", "eval-details.json", "state.json"] {
            XCTAssertFalse(try gitIgnores("docs/studies/any-study/runs/erm-s00/\(file)"), "a kept run's \(file) would not be committed")
        }
        XCTAssertTrue(try gitIgnores("runs/any-study/erm-s00/metrics.jsonl"), "the repository's runs/ folder should stay out of git")
        XCTAssertTrue(try gitIgnores("runs/any-study/erm-s00/checkpoints/latest"))
    }

    /// Each kept study rebuilds its tables from its kept runs alone, as its README says: the runs copied
    /// into `runs/STUDY/`, `multimix study --config configs/studies/STUDY.yaml --report-only`, and
    /// `results.csv` has a row for every kept run and for nothing else, and so has `results-test.csv`
    /// where the study has written it; a table published beside the runs equals the rebuilt one.
    func testEveryKeptStudyRebuildsItsTablesFromItsKeptRuns() throws {
        let studies = try fileManager.contentsOfDirectory(atPath: keptStudies.path).sorted().filter {
            fileManager.fileExists(atPath: keptStudies.appendingPathComponent("\($0)/runs").path)
        }
        guard !studies.isEmpty else { throw XCTSkip("no study keeps runs in docs/studies yet") }
        for study in studies {
            let kept = keptStudies.appendingPathComponent("\(study)/runs")
            let runNames = try fileManager.contentsOfDirectory(atPath: kept.path).sorted()
            XCTAssertFalse(runNames.isEmpty, "\(kept.path) is empty")
            for run in runNames {
                for file in ["config.yaml", "metrics.jsonl", "finished.json"] {
                    XCTAssertTrue(fileManager.fileExists(atPath: kept.appendingPathComponent("\(run)/\(file)").path), "\(study)/runs/\(run) lacks \(file)")
                }
                XCTAssertFalse(fileManager.fileExists(atPath: kept.appendingPathComponent("\(run)/checkpoints").path), "\(study)/runs/\(run) keeps its checkpoints")
            }

            let folder = fileManager.temporaryDirectory.appendingPathComponent("kept-\(study)-\(UUID().uuidString)")
            defer { try? fileManager.removeItem(at: folder) }
            try fileManager.createDirectory(at: folder.appendingPathComponent("runs"), withIntermediateDirectories: true)
            try fileManager.copyItem(at: kept, to: folder.appendingPathComponent("runs/\(study)"))
            let studyFile = Repository.root.appendingPathComponent("configs/studies/\(study).yaml")
            let result = try MPIRun.launch([MPIRun.executable("multimix"), "study", "--config", studyFile.path,
                                            "--run-dir-root", "runs", "--report-only"],
                                           timeout: 120, currentDirectory: folder)
            XCTAssertEqual(result.status, 0, result.output)

            let rebuilt = folder.appendingPathComponent("runs/\(study)")
            for table in ["results.csv", "results-test.csv"] {
                let url = rebuilt.appendingPathComponent(table)
                // The test split's table is written once every run of the study has its test.json.
                guard table == "results.csv" || fileManager.fileExists(atPath: url.path) else { continue }
                // A row per run (VARIANT,SEED,...); the paired summaries' rows have mean/ci95_* for a seed.
                let rows = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst().compactMap { line -> String? in
                    let cells = line.split(separator: ",", omittingEmptySubsequences: false)
                    guard cells.count > 1, let seed = Int(cells[1]) else { return nil }
                    return StudyRun.name(variant: String(cells[0]), seed: seed)
                }
                XCTAssertEqual(rows.sorted(), runNames, "\(study): \(table) does not list exactly the kept runs")
            }
            // Tables published beside the kept runs (docs/studies/STUDY/results-test.md, ...) are what the
            // kept runs rebuild, byte for byte: a figure quoted in the docs comes from the files kept with it.
            for table in ["results.csv", "results.md", "results-test.csv", "results-test.md", "top1.svg"] {
                let published = keptStudies.appendingPathComponent("\(study)/\(table)")
                guard fileManager.fileExists(atPath: published.path) else { continue }
                let rebuiltTable = rebuilt.appendingPathComponent(table)
                XCTAssertTrue(fileManager.fileExists(atPath: rebuiltTable.path), "\(study): \(table) is published but its kept runs do not rebuild it")
                XCTAssertEqual(try? Data(contentsOf: rebuiltTable), try Data(contentsOf: published),
                               "\(study): docs/studies/\(study)/\(table) differs from what its kept runs rebuild; copy it again from runs/\(study)/")
            }
        }
    }
}
