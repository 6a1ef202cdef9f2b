import Evaluation
import Foundation
import Checkpointing
import RunConfig
import RunOutputs
import SafeFiles
import TextEscaping

/// `multimix report RUN_DIR...`: one self-contained page comparing training runs (what one does after a
/// sweep), every number read from the run folders' `metrics.jsonl`:
///
/// 1. training loss and top-1 (on the runs' evaluation split) against epochs, a line per run;
/// 2. the final metrics side by side: a column per run, a row per metric (steps, epochs, the last
///    training loss, then every metric of any run's last evaluation), the best of each row in bold
///    (``StudyResults/direction(of:)``);
/// 3. each run's reliability diagram and MSP histograms, when its folder has `eval-details.json`.
///
/// The page carries no timestamp: the same run folders give the same bytes.
public enum ComparisonReport {
    /// One run folder's records.
    public struct Run: Equatable {
        /// The name on the page: the folder's name, or its path where two folders share a name.
        public var label: String
        public var records: [MetricsRecord]
        public var details: EvaluationDetails?
        /// The split its evaluations are on (its config.yaml's `eval.split`; nil: unknown).
        public var split: EvalConfig.Split?

        public init(label: String, records: [MetricsRecord], details: EvaluationDetails? = nil, split: EvalConfig.Split? = .test) {
            self.label = label
            self.records = records
            self.details = details
            self.split = split
        }
    }

    /// A folder that cannot be compared.
    public struct FolderError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads each folder's `metrics.jsonl` (and `eval-details.json`). Throws, naming the folder and the
    /// fix, for a missing folder, a folder without `metrics.jsonl` or with a damaged one.
    public static func read(_ folders: [URL]) throws -> [Run] {
        let names = folders.map(\.standardizedFileURL.lastPathComponent)
        return try folders.enumerated().map { index, folder in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw FolderError(description: "\(folder.path): no such folder; give run folders (runs/NAME) that multimix train wrote")
            }
            let log = folder.appendingPathComponent("metrics.jsonl")
            guard FileManager.default.fileExists(atPath: log.path) else {
                throw FolderError(description: "\(folder.path) has no metrics.jsonl: not a run folder; give folders that multimix train wrote (runs/NAME)")
            }
            let records: [MetricsRecord]
            do {
                records = try MetricsLog.read(log)
            } catch {
                throw FolderError(description: ErrorText.oneLine(error))
            }
            let label = names.filter { $0 == names[index] }.count > 1 ? folder.path : names[index]
            let details = EvaluationDetails.read(runFolder: folder).flatMap { details in
                records.contains { $0.kind == .eval && $0.step == details.step } ? details : nil
            }
            return Run(label: label, records: records, details: details, split: .of(runFolder: folder))
        }
    }

    /// Writes the page comparing `folders` to `url`: an `.html` file that is not a run's own
    /// `report.html` (nor any other file a run folder holds), replaced atomically (`SafeFile`).
    @discardableResult
    public static func write(runFolders folders: [URL], to url: URL) throws -> URL {
        guard ["html", "htm"].contains(url.pathExtension.lowercased()) else {
            throw FolderError(description: "--out \(url.path): not an .html file; the report is an HTML page: give a path ending in .html")
        }
        let target = url.resolvingSymlinksInPath().standardizedFileURL
        if let run = folders.first(where: { $0.resolvingSymlinksInPath().standardizedFileURL.appendingPathComponent("report.html") == target }) {
            throw FolderError(description: "--out \(url.path): is the run folder \(run.path)'s own report; write the comparison elsewhere (--out compare.html)")
        }
        let page = html(try read(folders))
        do {
            try SafeFile.write(page, to: url.path)
        } catch let error as SafeFileError where error.isRefusal {
            throw FolderError(description: "--out \(error)")
        } catch let error as SafeFileError {
            throw FolderError(description: "\(url.path): cannot write the report (\(error.problem)); check that its folder exists and is writable, or choose another with --out")
        } catch {
            throw FolderError(description: "\(url.path): cannot write the report (\((error as NSError).localizedDescription)); check that its folder exists and is writable, or choose another with --out")
        }
        return url
    }

    /// The page.
    public static func html(_ runs: [Run]) -> String {
        let title = "Comparison of \(runs.count) run\(runs.count == 1 ? "" : "s")"
        var page = RunReport.pageStart(title: title) + """
            <p>\(runs.map { HTML.escape($0.label) }.joined(separator: ", ")).</p>

            """
        for plot in plots(runs) {
            var plot = plot
            plot.width = 800   // room for the legend column
            page += plot.svg() + "\n"
        }
        page += "<h2>Final metrics</h2>\n<p>The last training loss and the last evaluation of each run; best of a row in bold.</p>\n"
        page += table(runs)
        page += OODTable.html(runs.map { run in (label: run.label, values: run.records.last { $0.kind == .eval }?.values ?? [:]) })
        for run in runs {
            guard let details = run.details else { continue }
            page += RunReport.detailsSection(details, heading: "Calibration and OOD scores: \(run.label)")
        }
        return page + "</body>\n</html>\n"
    }

    /// Training loss and top-1 against epochs, a series per run (empty series kept, so each run
    /// keeps its colour in both plots); the top-1 plot names the runs' evaluation split where they share one.
    static func plots(_ runs: [Run]) -> [SVGLinePlot] {
        let splits = Set(runs.map(\.split))
        let split = splits.count == 1 ? splits.first! : nil
        func series(_ kind: MetricsRecord.Kind, _ metric: String) -> [SVGLinePlot.Series] {
            runs.map { run in
                SVGLinePlot.Series(name: run.label, points: run.records.filter { $0.kind == kind }.compactMap { record in
                    record.values[metric].map { (x: record.epoch, y: $0) }
                })
            }
        }
        return [
            SVGLinePlot(title: "Training loss", xLabel: "epoch", yLabel: "loss", series: series(.train, MetricName.loss)),
            SVGLinePlot(title: EvalConfig.Split.plotTitle("top-1", on: split), xLabel: "epoch", yLabel: "top-1", series: series(.eval, MetricName.top1)),
        ]
    }

    /// The rows of the side-by-side table: a name and a value per run (nil where a run lacks it).
    static func rows(_ runs: [Run]) -> [(name: String, values: [Double?])] {
        let finals = runs.map { run in run.records.last { $0.kind == .eval }?.values ?? [:] }
        var rows: [(name: String, values: [Double?])] = [
            ("steps", runs.map { $0.records.last.map { Double($0.step) } }),
            ("epochs", runs.map { $0.records.last?.epoch }),
            ("final training loss", runs.map { run in run.records.last { $0.kind == .train && $0.values[MetricName.loss] != nil }?.values[MetricName.loss] }),
        ]
        for metric in Set(finals.flatMap(\.keys)).sorted() {
            rows.append((metric, finals.map { $0[metric] }))
        }
        return rows
    }

    /// The table as HTML: the best finite value of a row with a direction in bold (none with fewer than two).
    static func table(_ runs: [Run]) -> String {
        var out = "<table class=\"metrics\">\n<tr><th>metric</th>" + runs.map { "<th>\(HTML.escape($0.label))</th>" }.joined() + "</tr>\n"
        for row in rows(runs) {
            let finite = row.values.compactMap { $0 }.filter(\.isFinite)
            var best: Double?
            if finite.count >= 2, let direction = StudyResults.direction(of: row.name) {
                best = direction == .higherIsBetter ? finite.max() : finite.min()
            }
            out += "<tr><td>\(HTML.escape(row.name))</td>" + row.values.map { value -> String in
                guard let value else { return "<td class=\"value\">–</td>" }
                let text = HTML.escape(RunReport.format(value))
                return "<td class=\"value\">\(value == best ? "<b>\(text)</b>" : text)</td>"
            }.joined() + "</tr>\n"
        }
        return out + "</table>\n"
    }
}
