import Foundation

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
struct SVGLinePlot {
    /// One named line.
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var width = 640.0
    var height = 320.0

    /// Line colours, in series order (colour-blind-safe Okabe–Ito).
    static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]

    /// The `<svg>` element.
    func svg() -> String {
        let left = 64.0, right = 16.0, top = 32.0, bottom = 44.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let finite = series.map { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let all = finite.flatMap { $0 }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
        out += "<text x=\"\(left)\" y=\"20\" class=\"title\">\(HTML.escape(title))</text>\n"
        guard !all.isEmpty else {
            out += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">no data yet</text>\n</svg>"
            return out
        }
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
        for y in yTicks {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(y)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(y)))\" class=\"grid\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(SVGLinePlot.label(y))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" class=\"frame\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(HTML.escape(yLabel))</text>\n"

        // Lines, dots where there are few points, legend.
        for (index, points) in finite.enumerated() where !points.isEmpty {
            let color = SVGLinePlot.colors[index % SVGLinePlot.colors.count]
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" class=\"series\" data-name=\"\(HTML.escape(series[index].name))\"/>\n"
            if points.count <= 60 {
                for p in points { out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>" }
                out += "\n"
            }
            // Legend in the top margin, right-aligned, one 110-px slot per series: clear of the data.
            let legendX = left + plotWidth - 110 * Double(finite.count - index)
            out += "<line x1=\"\(f(legendX))\" y1=\"16\" x2=\"\(f(legendX + 20))\" y2=\"16\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(legendX + 26))\" y=\"20\">\(HTML.escape(series[index].name))</text>\n"
        }
        return out + "</svg>"
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
        var value = first
        while value < high + step * 0.5 {
            ticks.append(abs(value) < step * 1e-9 ? 0 : value)
            if value >= high { break }
            value += step
        }
        if ticks.count < 2 { ticks.append(first + step) }
        return ticks
    }

    /// A tick label: `%g` (0.1, 2, 1e-05), at most 4 significant digits.
    static func label(_ value: Double) -> String { String(format: "%.4g", value) }
}

/// HTML text escaping.
enum HTML {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
