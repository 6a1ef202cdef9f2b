import Foundation
import SafeFiles
import RunConfig
import TextEscaping

/// What an evaluation's scalar calibration and OOD metrics summarise, for the report's plots:
///
/// - the reliability diagram: ECE's 15 confidence bins (``ClassificationTally``), each with its
///   example count, mean confidence and accuracy;
/// - histograms of the maximum softmax probability (MSP, the OOD detection score) in 20 equal bins
///   over [0, 1]: on the evaluated split ("in_distribution"), then on each out-of-distribution set
///   (its name, "ood" for `eval.ood`).
///
/// Every rank bins its own shard and the counts are summed across ranks, like the metrics. Rank 0
/// writes the latest evaluation's to the run folder as `eval-details.json` (replaced each time):
///
///     {"step":40,"epoch":2.0,
///      "reliability":{"count":[…15],"confidence":[…15],"accuracy":[…15]},   means; null for an empty bin
///      "msp_histograms":[{"name":"in_distribution","counts":[…20]},{"name":"gaussian","counts":[…20]}]}
public struct EvaluationDetails: Equatable, Sendable {
    /// The file in the run folder.
    public static let fileName = "eval-details.json"
    /// The histograms' name for the evaluated split.
    public static let inDistribution = EvalConfig.OOD.inDistributionName

    /// One confidence bin of the reliability diagram.
    public struct ReliabilityBin: Equatable, Sendable {
        /// Examples whose confidence fell in the bin.
        public var count: Double
        /// Their mean confidence (NaN when the bin is empty).
        public var confidence: Double
        /// Their top-1 accuracy (NaN when the bin is empty).
        public var accuracy: Double

        public init(count: Double, confidence: Double, accuracy: Double) {
            self.count = count
            self.confidence = confidence
            self.accuracy = accuracy
        }
    }

    /// The evaluation's position (set by the trainer).
    public var step: Int
    public var epoch: Double
    /// ``ClassificationTally/binCount`` bins, bin b covering confidences (b/15, (b+1)/15].
    public var reliability: [ReliabilityBin]
    /// MSP histograms, the evaluated split first.
    public var histograms: [ScoreHistogram]

    public init(step: Int = 0, epoch: Double = 0, reliability: [ReliabilityBin], histograms: [ScoreHistogram]) {
        self.step = step
        self.epoch = epoch
        self.reliability = reliability
        self.histograms = histograms
    }

    /// The reliability bins of a (reduced) tally.
    public static func reliability(of tally: ClassificationTally) -> [ReliabilityBin] {
        (0..<ClassificationTally.binCount).map { b in
            let count = tally.binExamples[b]
            return ReliabilityBin(count: count, confidence: count > 0 ? tally.binConfidence[b] / count : .nan,
                                  accuracy: count > 0 ? tally.binCorrect[b] / count : .nan)
        }
    }

    // MARK: - The file

    /// The JSON text (one line and a newline).
    public var json: String {
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        func list(_ values: [Double]) -> String { "[" + values.map(number).joined(separator: ",") + "]" }
        let reliabilityText = "{\"count\":\(list(reliability.map(\.count))),\"confidence\":\(list(reliability.map(\.confidence))),"
            + "\"accuracy\":\(list(reliability.map(\.accuracy)))}"
        let histogramsText = histograms.map { "{\"name\":\(JSONText.quoted($0.name)),\"counts\":\(list($0.counts))}" }
        return "{\"step\":\(step),\"epoch\":\(number(epoch)),\"reliability\":\(reliabilityText),"
            + "\"msp_histograms\":[\(histogramsText.joined(separator: ","))]}\n"
    }

    /// Parses the JSON text; nil if it is not a details object.
    public init?(json: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let step = (object["step"] as? NSNumber)?.intValue,
              let epoch = (object["epoch"] as? NSNumber)?.doubleValue,
              let reliability = object["reliability"] as? [String: Any],
              let histograms = object["msp_histograms"] as? [[String: Any]] else { return nil }
        func numbers(_ value: Any?) -> [Double]? {
            (value as? [Any])?.map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        }
        guard let counts = numbers(reliability["count"]), let confidences = numbers(reliability["confidence"]),
              let accuracies = numbers(reliability["accuracy"]),
              counts.count == confidences.count, counts.count == accuracies.count else { return nil }
        var parsed: [ScoreHistogram] = []
        for histogram in histograms {
            guard let name = histogram["name"] as? String, let counts = numbers(histogram["counts"]), !counts.isEmpty else { return nil }
            parsed.append(ScoreHistogram(name: name, counts: counts))
        }
        self.init(step: step, epoch: epoch,
                  reliability: counts.indices.map { ReliabilityBin(count: counts[$0], confidence: confidences[$0], accuracy: accuracies[$0]) },
                  histograms: parsed)
    }

    /// Replaces `runFolder/eval-details.json`.
    public func write(toRunFolder runFolder: URL) throws {
        try SafeFile.write(json, to: runFolder.appendingPathComponent(Self.fileName).path)
    }

    /// `runFolder/eval-details.json`, or nil when there is none or it cannot be read.
    public static func read(runFolder: URL) -> EvaluationDetails? {
        (try? SafeFile.readText(runFolder.appendingPathComponent(fileName).path, fix: "")).flatMap(EvaluationDetails.init(json:))
    }
}

/// A histogram of scores in [0, 1]: `counts.count` equal bins, bin b covering (b/n, (b+1)/n] (0 goes
/// to bin 0, like ECE's bins; a NaN score too).
public struct ScoreHistogram: Equatable, Sendable {
    /// Bins of the MSP histograms.
    public static let binCount = 20

    public var name: String
    public var counts: [Double]

    public init(name: String, counts: [Double] = [Double](repeating: 0, count: binCount)) {
        self.name = name
        self.counts = counts
    }

    /// Counts each score.
    public mutating func add<Scores: Sequence>(_ scores: Scores) where Scores.Element == Double {
        for score in scores { counts[Self.bin(of: score, count: counts.count)] += 1 }
    }

    /// The bin of `value` among `count` equal bins of [0, 1]: (b/count, (b+1)/count], clamped.
    public static func bin(of value: Double, count: Int) -> Int {
        let scaled = value.isNaN ? 0 : (value * Double(count)).rounded(.up)
        return Int(min(max(scaled - 1, 0), Double(count - 1)))
    }
}
