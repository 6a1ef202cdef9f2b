import Evaluation
import Foundation
import RunConfig
import TextEscaping

/// A bar chart with error bars as inline SVG, in ``SVGLinePlot``'s style (same ticks, grid, colours):
/// one bar per category from zero to its value, a whisker of ± its error where it has one.
///
///     +-----------------------------+
///     | top1                        |
///     | 0.8 -|   ┬     ┬            |   bars from 0 (or the axis' end nearest 0)
///     |      |  ███   ███  ┬        |   whiskers: value ± error
///     | 0.4 -|  ███   ███ ███       |
///     |      +--erm---mm---dmm--    |
///     +-----------------------------+
public struct SVGBarChart {
    /// One bar.
    public struct Bar {
        var label: String
        var value: Double
        /// Half the whisker's length (a standard deviation); nil for none.
        var error: Double?
        /// Index into ``SVGLinePlot/colors``, so a category keeps its colour across charts.
        var colorIndex: Int

        public init(label: String, value: Double, error: Double?, colorIndex: Int) {
            (self.label, self.value, self.error, self.colorIndex) = (label, value, error, colorIndex)
        }
    }

    var title: String
    var bars: [Bar]
    var height = 240.0

    public init(title: String, bars: [Bar], height: Double = 240) {
        (self.title, self.bars, self.height) = (title, bars, height)
    }

    /// Wide enough for 72 px per bar, at least 300 px.
    var width: Double { max(300, 80 + 72 * Double(bars.count)) }

    /// The `<svg>` element.
    public func svg() -> String {
        let left = 64.0, right = 16.0, top = 32.0, bottom = 36.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let shown = bars.filter { $0.value.isFinite }
        let ends = shown.flatMap { bar in [bar.value - (bar.error ?? 0), bar.value + (bar.error ?? 0)] }.filter(\.isFinite)
        var out = SVGLinePlot.opening(title: title, width: width, height: height, left: left)
        guard !ends.isEmpty else { return out + SVGLinePlot.empty("no data", width: width, height: height) }
        let ticks = SVGLinePlot.ticks(min(0, ends.min()!), max(0, ends.max()!))
        let (y0, y1) = (ticks.first!, ticks.last!)
        func py(_ y: Double) -> Double { top + plotHeight - (y - y0) / (y1 - y0) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        out += SVGLinePlot.yGridAndFrame(ticks, py: py, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)

        let slot = plotWidth / Double(max(bars.count, 1))
        let baseline = py(min(max(0, y0), y1))
        for (index, bar) in bars.enumerated() {
            let center = left + slot * (Double(index) + 0.5)
            out += "<text x=\"\(f(center))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(HTML.escape(bar.label))</text>\n"
            guard bar.value.isFinite else { continue }
            let color = SVGLinePlot.colors[bar.colorIndex % SVGLinePlot.colors.count]
            let (low, high) = (min(baseline, py(bar.value)), max(baseline, py(bar.value)))
            out += "<rect x=\"\(f(center - slot * 0.3))\" y=\"\(f(low))\" width=\"\(f(slot * 0.6))\" height=\"\(f(high - low))\" fill=\"\(color)\" class=\"bar\" data-name=\"\(HTML.escape(bar.label))\"/>\n"
            if let error = bar.error, error.isFinite {
                let (a, b) = (py(bar.value - error), py(bar.value + error))
                out += "<path d=\"M\(f(center)),\(f(a))V\(f(b))M\(f(center - 6)),\(f(a))h12M\(f(center - 6)),\(f(b))h12\" stroke=\"#222\" stroke-width=\"1.5\" fill=\"none\" class=\"whisker\"/>\n"
            }
        }
        return out + "</svg>"
    }
}
