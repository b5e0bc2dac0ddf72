import CLTrainTraining
import Foundation

/// A standalone SVG of a run: loss per epoch (left) and accuracy per epoch in % (right),
/// train and test lines in each, with axes, tick labels, a legend and a title; the loss panel also
/// draws the training loss as the steps went (`curve`: a thin line under the epoch points).
///
/// Non-finite values (NaN, ±inf) and missing test values are skipped; a line breaks where
/// points are missing. A single epoch or constant values still give a readable plot.
public enum TrainingPlot {
    static let trainColor = "#1f77b4"
    static let testColor = "#d62728"

    public static func svg(_ metrics: [EpochMetrics], curve: [LossCurve.Point] = [], title: String, width: Int = 800,
                           height: Int = 500) -> String {
        let w = Double(max(width, 400)), h = Double(max(height, 250))
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" \
        font-family="Helvetica, Arial, sans-serif">
        <title>\(TrainingPlot.escapeXML(title))</title>
        <rect x="0" y="0" width="\(Int(w))" height="\(Int(h))" fill="#ffffff"/>
        <text x="\(coord(w / 2))" y="26" font-size="16" font-weight="bold" text-anchor="middle">\(TrainingPlot.escapeXML(title))</text>

        """
        out += legend(centerX: w / 2, y: 48)

        let epochs = metrics.map { Double($0.epoch) }
        let top = 78.0, bottom = h - 48
        let gap = 70.0, left = 62.0, right = 18.0
        let panelWidth = (w - left - gap - right) / 2
        let loss = Panel(
            title: "Loss", x: left, y: top, width: panelWidth, height: bottom - top,
            train: zip(epochs, metrics.map { Optional($0.trainLoss) }).map { ($0, $1) },
            test: zip(epochs, metrics.map(\.testLoss)).map { ($0, $1) },
            detail: curve.map { ($0.epoch, $0.loss) })
        let accuracy = Panel(
            title: "Accuracy (%)", x: left + panelWidth + gap, y: top, width: panelWidth, height: bottom - top,
            train: zip(epochs, metrics.map { Optional($0.trainAccuracy * 100) }).map { ($0, $1) },
            test: zip(epochs, metrics.map { $0.testAccuracy.map { $0 * 100 } }).map { ($0, $1) },
            ceiling: 100)
        out += loss.render()
        out += accuracy.render()
        out += "</svg>\n"
        return out
    }

    static func legend(centerX: Double, y: Double) -> String {
        let x = centerX - 80
        return """
        <g font-size="12">
        <line x1="\(coord(x))" y1="\(coord(y))" x2="\(coord(x + 24))" y2="\(coord(y))" stroke="\(trainColor)" stroke-width="2"/>
        <circle cx="\(coord(x + 12))" cy="\(coord(y))" r="3" fill="\(trainColor)"/>
        <text x="\(coord(x + 30))" y="\(coord(y + 4))">train</text>
        <line x1="\(coord(x + 90))" y1="\(coord(y))" x2="\(coord(x + 114))" y2="\(coord(y))" stroke="\(testColor)" stroke-width="2" stroke-dasharray="5,3"/>
        <circle cx="\(coord(x + 102))" cy="\(coord(y))" r="3" fill="\(testColor)"/>
        <text x="\(coord(x + 120))" y="\(coord(y + 4))">test</text>
        </g>

        """
    }

    struct Panel {
        var title: String
        var x: Double, y: Double, width: Double, height: Double
        var train: [(Double, Double?)]
        var test: [(Double, Double?)]
        /// A finer train line drawn thin, without dots (the per-step loss).
        var detail: [(Double, Double)] = []
        var ceiling: Double? = nil

        func render() -> String {
            let points = (train + test + detail.map { ($0.0, Optional($0.1)) }).compactMap { p in p.1.flatMap { $0.isFinite && p.0.isFinite ? (p.0, $0) : nil } }
            let xAxis = TrainingPlot.integerAxis(points.map(\.0))
            let yAxis = TrainingPlot.axis(points.map(\.1), ceiling: ceiling)
            func px(_ v: Double) -> Double { x + (v - xAxis.lower) / (xAxis.upper - xAxis.lower) * width }
            func py(_ v: Double) -> Double { y + height - (v - yAxis.lower) / (yAxis.upper - yAxis.lower) * height }

            var out = "<g>\n"
            out += "<text x=\"\(coord(x + width / 2))\" y=\"\(coord(y - 10))\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\">\(TrainingPlot.escapeXML(title))</text>\n"
            // Grid and y ticks.
            for tick in yAxis.ticks {
                let ty = py(tick)
                out += "<line x1=\"\(coord(x))\" y1=\"\(coord(ty))\" x2=\"\(coord(x + width))\" y2=\"\(coord(ty))\" stroke=\"#e5e5e5\" stroke-width=\"1\"/>\n"
                out += "<text x=\"\(coord(x - 6))\" y=\"\(coord(ty + 4))\" font-size=\"11\" text-anchor=\"end\">\(TrainingPlot.label(tick, step: yAxis.step))</text>\n"
            }
            for tick in xAxis.ticks {
                let tx = px(tick)
                out += "<line x1=\"\(coord(tx))\" y1=\"\(coord(y + height))\" x2=\"\(coord(tx))\" y2=\"\(coord(y + height + 5))\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
                out += "<text x=\"\(coord(tx))\" y=\"\(coord(y + height + 18))\" font-size=\"11\" text-anchor=\"middle\">\(TrainingPlot.label(tick, step: xAxis.step))</text>\n"
            }
            // Axes.
            out += "<polyline points=\"\(coord(x)),\(coord(y)) \(coord(x)),\(coord(y + height)) \(coord(x + width)),\(coord(y + height))\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
            out += "<text x=\"\(coord(x + width / 2))\" y=\"\(coord(y + height + 36))\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n"
            let fine = detail.filter { $0.0.isFinite && $0.1.isFinite }.map { "\(coord(px($0.0))),\(coord(py($0.1)))" }
            if fine.count > 1 {
                out += "<polyline points=\"\(fine.joined(separator: " "))\" fill=\"none\" stroke=\"\(TrainingPlot.trainColor)\" "
                    + "stroke-width=\"1\" stroke-opacity=\"0.45\"/>\n"
            }
            out += series(train, color: TrainingPlot.trainColor, dashed: false, px: px, py: py)
            out += series(test, color: TrainingPlot.testColor, dashed: true, px: px, py: py)
            out += "</g>\n"
            return out
        }

        /// A polyline per run of consecutive finite points, and a dot at every point.
        func series(_ values: [(Double, Double?)], color: String, dashed: Bool,
                    px: (Double) -> Double, py: (Double) -> Double) -> String {
            var segments: [[(Double, Double)]] = [[]]
            for (ex, value) in values {
                if let v = value, v.isFinite, ex.isFinite {
                    segments[segments.count - 1].append((px(ex), py(v)))
                } else if !segments[segments.count - 1].isEmpty {
                    segments.append([])
                }
            }
            var out = ""
            let dash = dashed ? " stroke-dasharray=\"5,3\"" : ""
            for segment in segments where segment.count > 1 {
                let list = segment.map { "\(coord($0.0)),\(coord($0.1))" }.joined(separator: " ")
                out += "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            }
            for point in segments.joined() {
                out += "<circle cx=\"\(coord(point.0))\" cy=\"\(coord(point.1))\" r=\"2.5\" fill=\"\(color)\"/>\n"
            }
            return out
        }
    }

    struct Axis {
        var lower: Double, upper: Double, step: Double
        var ticks: [Double]
    }

    /// A value axis with "nice" ticks (1, 2, 5 x 10^k) covering the finite values.
    /// The range gets 4% padding so points do not sit on the frame, but does not cross 0 or
    /// `ceiling` (100 for accuracy) where the data does not.
    static func axis(_ values: [Double], ceiling: Double? = nil) -> Axis {
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low <= max(abs(high), abs(low)) * 1e-9 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        } else {
            let pad = (high - low) * 0.04
            low = low >= 0 ? max(0, low - pad) : low - pad
            high = ceiling.map { high <= $0 ? min($0, high + pad) : high + pad } ?? high + pad
        }
        let step = niceStep((high - low) / 5)
        let lower = (low / step).rounded(.down) * step
        let upper = (high / step).rounded(.up) * step
        return Axis(lower: lower, upper: upper, step: step, ticks: ticks(lower, upper, step))
    }

    /// The epoch axis: integer ticks, from the first to the last epoch (±0.5 around a single one).
    static func integerAxis(_ values: [Double]) -> Axis {
        let low = values.min() ?? 1, high = values.max() ?? 1
        let step = max(1, niceStep((high - low) / 8).rounded(.up))
        if high - low < 1 {
            // Inside one epoch (a 1-epoch run's per-step curve): from the epoch before to the one after.
            if high > low {
                let lower = low.rounded(.down), upper = max(high.rounded(.up), lower + 1)
                return Axis(lower: lower, upper: upper, step: 1, ticks: ticks(lower, upper, 1))
            }
            return Axis(lower: low - 0.5, upper: low + 0.5, step: 1, ticks: [low.rounded()])
        }
        let first = (low / step).rounded(.up) * step
        return Axis(lower: low, upper: high, step: step, ticks: ticks(first, high, step))
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }

    static func ticks(_ lower: Double, _ upper: Double, _ step: Double) -> [Double] {
        var result: [Double] = []
        var i = 0.0
        while lower + i * step <= upper + step * 1e-6, result.count < 50 {
            result.append(lower + i * step)
            i += 1
        }
        return result
    }

    /// A tick label with as many decimals as the step needs.
    static func label(_ value: Double, step: Double) -> String {
        let decimals = max(0, min(10, Int((-log10(step)).rounded(.up))))
        let text = String(format: "%.\(decimals)f", value)
        return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
    }

    /// Text safe inside XML content and attribute values. Characters XML 1.0 does not allow
    /// (most control characters) become U+FFFD.
    public static func escapeXML(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                let v = scalar.value
                let allowed = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF)
                    || (v >= 0xE000 && v <= 0xFFFD) || v >= 0x10000
                out.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
            }
        }
        return out
    }
}

/// A coordinate with at most two decimals.
func coord(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let text = String(format: "%.2f", value)
    var trimmed = Substring(text)
    while trimmed.hasSuffix("0") { trimmed = trimmed.dropLast() }
    if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
    return trimmed == "-0" ? "0" : String(trimmed)
}
