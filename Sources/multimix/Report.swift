import ArgumentParser
import Foundation
import Studies
import TextEscaping
import Training

/// `multimix report`: one HTML page comparing run folders (``ComparisonReport``).
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare training runs on one HTML page: curves overlaid, final metrics side by side.",
        discussion: """
            Reads each RUN_DIR's metrics.jsonl (and eval-details.json, for the reliability diagrams and \
            OOD score histograms) and writes one self-contained page: training loss and test top-1 \
            against epochs, a line per run; the final metrics in a table, a column per run, the best \
            of each row in bold. No MPI, no training: run it while the runs train, or after a sweep.
            Example: multimix report runs/erm runs/multimix runs/dense-multimix --out compare.html
            """
    )

    @Argument(help: "Run folders (runs/NAME), each with a metrics.jsonl.")
    var runDirs: [String] = []

    @Option(help: "The HTML file to write.")
    var out = "report.html"

    func validate() throws {
        guard !runDirs.isEmpty else { throw ValidationError("give at least one RUN_DIR (a folder multimix train wrote, runs/NAME)") }
        guard !out.isEmpty else { throw ValidationError("--out must name a file") }
    }

    func run() throws {
        do {
            let url = try ComparisonReport.write(runFolders: runDirs.map { URL(fileURLWithPath: $0) }, to: URL(fileURLWithPath: out))
            print("wrote \(url.path)")
        } catch {
            JobExit.fail(error)
        }
    }
}
