import Evaluation
import Foundation
import RunConfig
import TextEscaping

/// A line plot as inline SVG: axes with round-number ticks, one polyline (and dots) per series, a
/// legend. No scripts or external files, so it works inside a self-contained HTML page.
///
///     +------------------------------------------+
///     | title                                    |
///     | 0.8 -|\                                  |
///     |      | \__                               |   plot area: inset by the margins,
///     | 0.4 -|    \_____ ---- loss               |   x and y mapped linearly from
///     |      +----+-----+-----                   |   their (padded) data ranges
///     |      0    5     10  epoch                |
///     +------------------------------------------+
public struct SVGLinePlot {
    /// One named line, with an optional shaded band around it (a spread over seeds: min to max).
    public struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var band: [(x: Double, low: Double, high: Double)] = []

        public init(name: String, points: [(x: Double, y: Double)], band: [(x: Double, low: Double, high: Double)] = []) {
            (self.name, self.points, self.band) = (name, points, band)
        }
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    public var width = 640.0
    var height = 320.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series], width: Double = 640, height: Double = 320) {
        (self.title, self.xLabel, self.yLabel, self.series, self.width, self.height) = (title, xLabel, yLabel, series, width, height)
    }

    /// Line colours, in series order (colour-blind-safe Okabe–Ito, then black and grey).
    public static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]

    /// The `<svg>` element.
    public func svg() -> String {
        // More than two series, or a long title: the legend goes in a column right of the plot instead of
        // the top margin, where it would run into the title.
        let legendAtRight = series.count > 2 || (series.count == 2 && title.count > 40)
        let left = 64.0, right = legendAtRight ? 190.0 : 16.0, top = 32.0, bottom = 44.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let finite = series.map { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let bands = series.map { $0.band.filter { $0.x.isFinite && $0.low.isFinite && $0.high.isFinite } }
        let all = finite.flatMap { $0 } + bands.flatMap { $0.flatMap { [(x: $0.x, y: $0.low), (x: $0.x, y: $0.high)] } }
        var out = SVGLinePlot.opening(title: title, width: width, height: height, left: left)
        guard !all.isEmpty else { return out + SVGLinePlot.empty("no data yet", width: width, height: height) }
        let xTicks = SVGLinePlot.ticks(all.map(\.x).min()!, all.map(\.x).max()!)
        let yTicks = SVGLinePlot.ticks(all.map(\.y).min()!, all.map(\.y).max()!)
        let (x0, x1) = (xTicks.first!, xTicks.last!)
        let (y0, y1) = (yTicks.first!, yTicks.last!)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (y - y0) / (y1 - y0) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        // Grid, ticks and labels.
        for x in xTicks {
            out += "<line x1=\"\(f(px(x)))\" y1=\"\(f(top))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotHeight))\" class=\"grid\"/>"
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(SVGLinePlot.label(x))</text>\n"
        }
        out += SVGLinePlot.yGridAndFrame(yTicks, py: py, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(yLabel))</text>\n"

        // Bands under the lines: the upper edge left to right, then the lower edge back.
        for (index, band) in bands.enumerated() where band.count > 1 {
            let color = SVGLinePlot.colors[index % SVGLinePlot.colors.count]
            let edge = band.map { (x: $0.x, y: $0.high) } + band.reversed().map { (x: $0.x, y: $0.low) }
            let path = edge.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polygon points=\"\(path)\" fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\" class=\"band\"/>\n"
        }

        // Lines, dots where there are few points, legend.
        for (index, points) in finite.enumerated() where !points.isEmpty {
            let color = SVGLinePlot.colors[index % SVGLinePlot.colors.count]
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" class=\"series\" data-name=\"\(HTML.escape(series[index].name))\"/>\n"
            if points.count <= 60 {
                for p in points { out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>" }
                out += "\n"
            }
            // Legend clear of the data: in the top margin, right-aligned, one 110-px slot per series;
            // or a column right of the plot.
            let legendX = legendAtRight ? left + plotWidth + 12 : left + plotWidth - 110 * Double(finite.count - index)
            let legendY = legendAtRight ? top + 8 + 18 * Double(index) : 16
            out += "<line x1=\"\(f(legendX))\" y1=\"\(f(legendY))\" x2=\"\(f(legendX + 20))\" y2=\"\(f(legendY))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(legendX + 26))\" y=\"\(f(legendY + 4))\">\(HTML.escape(series[index].name))</text>\n"
        }
        return out + "</svg>"
    }

    /// The `<svg>` start tag and the title (shared with ``SVGBarChart``).
    static func opening(title: String, width: Double, height: Double, left: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
            + "<text x=\"\(left)\" y=\"20\" class=\"title\">\(HTML.escape(title))</text>\n"
    }

    /// A centred note in place of the data, and the end tag.
    static func empty(_ note: String, width: Double, height: Double) -> String {
        "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">\(note)</text>\n</svg>"
    }

    /// Horizontal grid lines with their labels at `ticks` (mapped by `py`), and the plot area's frame.
    static func yGridAndFrame(_ ticks: [Double], py: (Double) -> Double, left: Double, top: Double,
                              plotWidth: Double, plotHeight: Double) -> String {
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = ""
        for y in ticks {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(y)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(y)))\" class=\"grid\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(SVGLinePlot.label(y))</text>\n"
        }
        return out + "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" class=\"frame\"/>\n"
    }

    /// Round-number ticks (steps of 1, 2 or 5 × 10ᵏ) covering [low, high], about five of them.
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        var (low, high) = (low, high)
        if high - low <= 1e-12 * max(abs(low), abs(high), 1) {   // a flat line: give it some room
            let pad = max(abs(low) * 0.1, 1e-3)
            low -= pad
            high += pad
        }
        let rough = (high - low) / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = (low / step).rounded(.down) * step
        var ticks: [Double] = []
        // Up to the first tick at or above `high` (a top within half a step above the last tick was
        // once left out, and its points drawn above the plot).
        var value = first
        while ticks.count < 100 {
            ticks.append(abs(value) < step * 1e-9 ? 0 : value)
            if value >= high - step * 1e-9 { break }
            value += step
        }
        if ticks.count < 2 { ticks.append(first + step) }
        return ticks
    }

    /// A tick label: `%g` (0.1, 2, 1e-05), at most 4 significant digits.
    static func label(_ value: Double) -> String { String(format: "%.4g", value) }
}
