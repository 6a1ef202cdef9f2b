import Evaluation
import Foundation
import RunConfig
import TextEscaping

/// Plots over equal bins of [0, 1] as inline SVG, in ``SVGLinePlot``'s style (ticks, grid, colours):
///
/// - ``reliability(title:bins:)``: the reliability diagram. A bar per non-empty confidence bin up to
///   its accuracy, the gap to its mean confidence shaded above or below, a dot at (mean confidence,
///   accuracy), and the diagonal a calibrated model would follow;
/// - ``histograms(title:_:)``: score histograms overlaid, each as the fraction of its set per bin (sets
///   of different sizes compare), drawn as a filled step outline with a dot on each bin.
///
///     reliability                        histograms
///     1.0 -|          /█                 0.6 -|            ┌┐
///          |       /▒██                       |   ┌──┐     ││ ← in-distribution
///     0.5 -|    /▒██ ██                  0.3 -|┌──┘  └─┐   ││
///          | /██ ██ ██                        |┘ noise └───┘└
///          +----------- confidence            +------------ max softmax probability
public enum SVGBinPlot {
    static let width = 440.0, height = 320.0
    static let left = 56.0, right = 16.0, top = 44.0, bottom = 44.0
    static var plotWidth: Double { width - left - right }
    static var plotHeight: Double { height - top - bottom }

    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    private static func px(_ x: Double) -> Double { left + x * plotWidth }

    /// The reliability diagram of `bins` (equal bins of [0, 1], in order).
    static func reliability(title: String, bins: [EvaluationDetails.ReliabilityBin]) -> String {
        let yTicks = stride(from: 0.0, through: 1.0001, by: 0.2).map { $0 }
        func py(_ y: Double) -> Double { top + plotHeight - y * plotHeight }
        var out = axes(title: title, xLabel: "confidence (max softmax probability)", yLabel: "accuracy", yTicks: yTicks, py: py)
        let shown = bins.enumerated().filter { $0.element.count > 0 && $0.element.accuracy.isFinite && $0.element.confidence.isFinite }
        guard !shown.isEmpty else { return out + SVGLinePlot.empty("no evaluation yet", width: width, height: height) }
        let binWidth = 1 / Double(bins.count)
        let (barColor, gapColor) = (SVGLinePlot.colors[0], SVGLinePlot.colors[1])
        for (index, bin) in shown {
            let (x0, x1) = (px(Double(index) * binWidth) + 1, px(Double(index + 1) * binWidth) - 1)
            out += "<rect x=\"\(f(x0))\" y=\"\(f(py(bin.accuracy)))\" width=\"\(f(x1 - x0))\" height=\"\(f(py(0) - py(bin.accuracy)))\" fill=\"\(barColor)\" fill-opacity=\"0.75\" class=\"bar\" data-count=\"\(Int(bin.count))\"/>"
            let (gapTop, gapBottom) = (py(max(bin.accuracy, bin.confidence)), py(min(bin.accuracy, bin.confidence)))
            out += "<rect x=\"\(f(x0))\" y=\"\(f(gapTop))\" width=\"\(f(x1 - x0))\" height=\"\(f(gapBottom - gapTop))\" fill=\"\(gapColor)\" fill-opacity=\"0.3\" stroke=\"\(gapColor)\" class=\"gap\"/>\n"
        }
        out += "<line x1=\"\(f(px(0)))\" y1=\"\(f(py(0)))\" x2=\"\(f(px(1)))\" y2=\"\(f(py(1)))\" stroke=\"#444\" stroke-dasharray=\"4 3\" class=\"diagonal\"/>\n"
        for (_, bin) in shown {
            out += "<circle cx=\"\(f(px(bin.confidence)))\" cy=\"\(f(py(bin.accuracy)))\" r=\"2.5\" fill=\"#222\"/>"
        }
        out += "\n" + legend([("accuracy", barColor, "bar"), ("gap to confidence", gapColor, "bar"), ("calibrated", "#444", "dash")])
        return out + "</svg>"
    }

    /// `histograms` overlaid as fractions of their sets (equal bins of [0, 1]; an empty set is left out).
    static func histograms(title: String, _ histograms: [ScoreHistogram]) -> String {
        let fractions = histograms.map { histogram -> [Double] in
            let total = histogram.counts.reduce(0, +)
            return total > 0 ? histogram.counts.map { $0 / total } : []
        }
        let highest = fractions.flatMap { $0 }.max() ?? 0
        let yTicks = SVGLinePlot.ticks(0, max(highest, 0.05))
        let y1 = yTicks.last!
        func py(_ y: Double) -> Double { top + plotHeight - y / y1 * plotHeight }
        var out = axes(title: title, xLabel: "max softmax probability", yLabel: "fraction of the set", yTicks: yTicks, py: py)
        guard highest > 0 else { return out + SVGLinePlot.empty("no evaluation yet", width: width, height: height) }
        var entries: [(String, String, String)] = []
        for (index, values) in fractions.enumerated() where !values.isEmpty {
            let color = SVGLinePlot.colors[index % SVGLinePlot.colors.count]
            let binWidth = 1 / Double(values.count)
            // The step outline: along the top of each bin, closed along the axis for the fill.
            var path = "M\(f(px(0))),\(f(py(0)))"
            for (b, value) in values.enumerated() {
                path += "L\(f(px(Double(b) * binWidth))),\(f(py(value)))L\(f(px(Double(b + 1) * binWidth))),\(f(py(value)))"
            }
            path += "L\(f(px(1))),\(f(py(0)))Z"
            out += "<path d=\"\(path)\" fill=\"\(color)\" fill-opacity=\"0.2\" stroke=\"\(color)\" stroke-width=\"1.5\" class=\"series\" data-name=\"\(HTML.escape(histograms[index].name))\"/>\n"
            for (b, value) in values.enumerated() where value > 0 {
                out += "<circle cx=\"\(f(px((Double(b) + 0.5) * binWidth)))\" cy=\"\(f(py(value)))\" r=\"2\" fill=\"\(color)\"/>"
            }
            out += "\n"
            entries.append((histograms[index].name, color, "bar"))
        }
        return out + legend(entries) + "</svg>"
    }

    /// The opening, the title, the grid (x ticks every 0.2), the y labels, the frame and the axis labels.
    private static func axes(title: String, xLabel: String, yLabel: String, yTicks: [Double], py: (Double) -> Double) -> String {
        var out = SVGLinePlot.opening(title: title, width: width, height: height, left: left)
        for x in stride(from: 0.0, through: 1.0001, by: 0.2) {
            out += "<line x1=\"\(f(px(x)))\" y1=\"\(f(top))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotHeight))\" class=\"grid\"/>"
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(SVGLinePlot.label(x))</text>\n"
        }
        out += SVGLinePlot.yGridAndFrame(yTicks, py: py, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(yLabel))</text>\n"
        return out
    }

    /// A row of legend entries under the title: a swatch (or a dashed stroke) and the name.
    private static func legend(_ entries: [(name: String, color: String, mark: String)]) -> String {
        var out = "", x = left
        for entry in entries {
            if entry.mark == "dash" {
                out += "<line x1=\"\(f(x))\" y1=\"32\" x2=\"\(f(x + 14))\" y2=\"32\" stroke=\"\(entry.color)\" stroke-dasharray=\"4 3\"/>"
            } else {
                out += "<rect x=\"\(f(x))\" y=\"27\" width=\"14\" height=\"10\" fill=\"\(entry.color)\" fill-opacity=\"0.6\"/>"
            }
            out += "<text x=\"\(f(x + 18))\" y=\"36\">\(HTML.escape(entry.name))</text>\n"
            x += 26 + 6.5 * Double(entry.name.count)
        }
        return out
    }
}
