import Foundation

/// A per-layer line chart rendered as a standalone SVG document: layers on the x axis, series on a
/// left axis with a fixed range (cosines in [−1, 1]) and optionally on a right axis scaled to its own
/// data (separation scores), with shaded bands for the layers a plan uses.
struct LayerChart: Sendable {
    /// One line of the chart.
    struct Series: Sendable {
        var name: String
        var values: [Double]
        /// CSS colour, e.g. `#d62728`.
        var color: String
        var dashed: Bool
        init(name: String, values: [Double], color: String, dashed: Bool = false) {
            self.name = name
            self.values = values
            self.color = color
            self.dashed = dashed
        }
    }

    var title: String
    var layers: [Int]
    var left: [Series]
    var leftRange: ClosedRange<Double>
    var leftLabel: String
    var right: [Series]
    var rightLabel: String
    /// Layer spans to shade (e.g. the target spans of a plan), with a marker for the measurement layer.
    var bands: [(span: ClosedRange<Int>, marker: Double?)]

    init(
        title: String, layers: [Int], left: [Series], leftRange: ClosedRange<Double> = -1...1,
        leftLabel: String = "cosine", right: [Series] = [], rightLabel: String = "",
        bands: [(span: ClosedRange<Int>, marker: Double?)] = []
    ) {
        self.title = title
        self.layers = layers
        self.left = left
        self.leftRange = leftRange
        self.leftLabel = leftLabel
        self.right = right
        self.rightLabel = rightLabel
        self.bands = bands
    }

    /// The SVG document.
    func svg(width: Double = 900, height: Double = 460) -> String {
        let (ml, mr, mt, mb) = (60.0, right.isEmpty ? 30.0 : 70.0, 50.0, 90.0)
        let pw = width - ml - mr, ph = height - mt - mb
        let x0 = Double(layers.first ?? 0), x1 = Double(max(layers.last ?? 1, (layers.first ?? 0) + 1))
        func x(_ layer: Double) -> Double { ml + (layer - x0) / (x1 - x0) * pw }
        func yl(_ v: Double) -> Double {
            let c = min(max(v, leftRange.lowerBound), leftRange.upperBound)
            return mt + (leftRange.upperBound - c) / (leftRange.upperBound - leftRange.lowerBound) * ph
        }
        let rightValues = right.flatMap { $0.values }.filter { $0.isFinite }
        let rMax = max(rightValues.max() ?? 1, 0) * 1.05
        let rMin = min(rightValues.min() ?? 0, 0)
        let rSpan = max(rMax - rMin, 1e-12)
        func yr(_ v: Double) -> Double { mt + (rMax - v) / rSpan * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }

        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(esc(title))</text>

        """
        for band in bands {
            let a = x(Double(band.span.lowerBound) - 0.5), b = x(Double(band.span.upperBound) + 0.5)
            let left = max(a, ml), w = min(b, ml + pw) - left
            s += "<rect x=\"\(f(left))\" y=\"\(f(mt))\" width=\"\(f(max(w, 0)))\" height=\"\(f(ph))\" fill=\"#ffbf00\" fill-opacity=\"0.15\"/>\n"
            if let m = band.marker {
                s += "<line x1=\"\(f(x(m)))\" y1=\"\(f(mt))\" x2=\"\(f(x(m)))\" y2=\"\(f(mt + ph))\" stroke=\"#ff7f00\" stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/>\n"
                s += "<text x=\"\(f(x(m)))\" y=\"\(f(mt - 4))\" text-anchor=\"middle\" fill=\"#ff7f00\">r@\(LayerPlan.layerText(m))</text>\n"
            }
        }
        // Left axis grid and ticks.
        let ticks = 4
        for i in 0...ticks {
            let v = leftRange.lowerBound + (leftRange.upperBound - leftRange.lowerBound) * Double(i) / Double(ticks)
            let y = yl(v)
            s += "<line x1=\"\(f(ml))\" y1=\"\(f(y))\" x2=\"\(f(ml + pw))\" y2=\"\(f(y))\" stroke=\"#e0e0e0\"/>\n"
            s += "<text x=\"\(f(ml - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(String(format: "%.2g", v))</text>\n"
            if !right.isEmpty {
                let rv = rMax - rSpan * Double(i) / Double(ticks)
                s += "<text x=\"\(f(ml + pw + 6))\" y=\"\(f(yl(leftRange.upperBound - (leftRange.upperBound - leftRange.lowerBound) * Double(i) / Double(ticks)) + 4))\">\(String(format: "%.3g", rv))</text>\n"
            }
        }
        if leftRange.contains(0) {
            s += "<line x1=\"\(f(ml))\" y1=\"\(f(yl(0)))\" x2=\"\(f(ml + pw))\" y2=\"\(f(yl(0)))\" stroke=\"#999\"/>\n"
        }
        // X ticks: every layer when few, else every 2nd/5th.
        let step = layers.count <= 20 ? 1 : (layers.count <= 50 ? 2 : 5)
        for l in layers where (l - (layers.first ?? 0)) % step == 0 {
            s += "<text x=\"\(f(x(Double(l))))\" y=\"\(f(mt + ph + 16))\" text-anchor=\"middle\">\(l)</text>\n"
        }
        s += "<rect x=\"\(f(ml))\" y=\"\(f(mt))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f(ml + pw / 2))\" y=\"\(f(mt + ph + 34))\" text-anchor=\"middle\">layer (residual at the input of block L)</text>\n"
        s += "<text transform=\"translate(16 \(f(mt + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(leftLabel))</text>\n"
        if !right.isEmpty {
            s += "<text transform=\"translate(\(f(width - 14)) \(f(mt + ph / 2))) rotate(90)\" text-anchor=\"middle\">\(esc(rightLabel))</text>\n"
        }

        func polyline(_ series: Series, _ y: (Double) -> Double) -> String {
            var points: [String] = []
            var out = ""
            for (l, v) in zip(layers, series.values) {
                if v.isFinite { points.append("\(f(x(Double(l)))),\(f(y(v)))") } else if !points.isEmpty {
                    out += line(points, series)
                    points = []
                }
            }
            if !points.isEmpty { out += line(points, series) }
            return out
        }
        func line(_ points: [String], _ series: Series) -> String {
            "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"6,4\"" : "") points=\"\(points.joined(separator: " "))\"/>\n"
        }
        for series in left { s += polyline(series, yl) }
        for series in right { s += polyline(series, yr) }

        // Legend below the plot.
        var lx = ml
        var ly = mt + ph + 58
        for (series, axis) in left.map({ ($0, "") }) + right.map({ ($0, " (right axis)") }) {
            let label = esc(series.name + axis)
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 22))\" y2=\"\(f(ly))\" stroke=\"\(series.color)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"6,4\"" : "")/>\n"
            s += "<text x=\"\(f(lx + 27))\" y=\"\(f(ly + 4))\">\(label)</text>\n"
            lx += 40 + Double(label.count) * 6.2
            if lx > width - 200 { lx = ml; ly += 18 }
        }
        s += "</svg>\n"
        return s
    }
}
