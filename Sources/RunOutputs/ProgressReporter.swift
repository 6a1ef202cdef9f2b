import Evaluation
import Foundation
import SwiftMPI
import RunConfig

/// Rank 0's progress line: epoch, step, loss, learning rate, images/s, ETA, data wait and exposed
/// communication. On a terminal it is one live line, redrawn in place; in a batch log (not a
/// terminal) it is a plain line every `log_every_steps` steps.
public final class ProgressReporter {
    private let isTerminal: Bool
    private let output: (String) -> Void
    private var liveLineOpen = false

    public init(isTerminal: Bool = ProgressReporter.showsLiveLine,
                output: @escaping (String) -> Void = { print($0, terminator: ""); fflush(nil) }) {  // nil: every output stream, stdout among them
        self.isTerminal = isTerminal
        self.output = output
    }

    /// Whether to draw a live line (``LaunchEnvironment/showsLiveProgress(_:stdoutIsTerminal:)``).
    public static var showsLiveLine: Bool {
        LaunchEnvironment.showsLiveProgress(ProcessInfo.processInfo.environment, stdoutIsTerminal: isatty(STDOUT_FILENO) != 0)
    }

    /// A step's figures.
    public struct Line {
        public var epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int
        public var loss: Double, learningRate: Double
        public var imagesPerSecond: Double, etaSeconds: Double
        public var dataWaitFraction: Double, exposedCommunicationMs: Double

        public init(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, learningRate: Double,
                    imagesPerSecond: Double, etaSeconds: Double, dataWaitFraction: Double, exposedCommunicationMs: Double) {
            self.epoch = epoch
            self.epochs = epochs
            self.step = step
            self.stepsPerEpoch = stepsPerEpoch
            self.loss = loss
            self.learningRate = learningRate
            self.imagesPerSecond = imagesPerSecond
            self.etaSeconds = etaSeconds
            self.dataWaitFraction = dataWaitFraction
            self.exposedCommunicationMs = exposedCommunicationMs
        }

        var text: String {
            String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %.4g  %.0f img/s  ETA %@  data wait %.1f%%  comm %.1f ms",
                   epoch + 1, epochs, step + 1, stepsPerEpoch, loss, learningRate, imagesPerSecond,
                   ProgressReporter.duration(etaSeconds), dataWaitFraction * 100, exposedCommunicationMs)
        }
    }

    /// Shows a step's progress: always on a terminal, every `every` steps in a log.
    public func step(_ line: Line, globalStep: Int, every: Int) {
        if isTerminal {
            output("\r\u{1B}[2K" + line.text)
            liveLineOpen = true
        } else if every > 0 && (globalStep + 1) % every == 0 {
            output(line.text + "\n")
        }
    }

    /// Prints a message on its own line (closing a live line first).
    public func message(_ text: String) {
        if liveLineOpen {
            output("\n")
            liveLineOpen = false
        }
        output(text + "\n")
    }

    /// "1h02m", "3m12s", "45s".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
