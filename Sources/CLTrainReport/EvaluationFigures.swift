import CLTrainData
import CLTrainTraining
import Foundation

/// The pictures of `cltrain eval --report`, each a `Figure` (so SVG and PNG show the same).
public enum EvaluationFigures {
    static let ink = RGB(0x22, 0x22, 0x22)
    static let muted = RGB(0x66, 0x66, 0x66)
    static let grid = RGB(0xdd, 0xdd, 0xdd)
    static let bar = RGB(0x1f, 0x77, 0xb4)

    /// matplotlib's "Blues" from 0 (near white) to 1 (dark blue), by three stops.
    public static func blues(_ t: Double) -> RGB {
        let low = RGB(0xf7, 0xfb, 0xff), middle = RGB(0x6b, 0xae, 0xd6), high = RGB(0x08, 0x30, 0x6b)
        let t = max(0, min(1, t.isFinite ? t : 0))
        return t < 0.5 ? low.mixed(with: middle, t * 2) : middle.mixed(with: high, (t - 0.5) * 2)
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.1f%%", 100 * $0) } ?? "-"
    }

    static func heading(_ report: EvaluationReport) -> String {
        "\(report.model) on \(report.dataset): accuracy \(percent(report.accuracy)) of \(report.images) images"
    }

    /// The confusion matrix (rows: true class, columns: predicted class) with each cell's count,
    /// coloured by its share of the row, and beside it each class's accuracy as a bar.
    public static func confusion(_ report: EvaluationReport) -> Figure {
        let k = report.classNames.count
        let cell = k <= 10 ? 52 : max(12, min(52, 720 / max(k, 1)))
        let labelScale = k <= 20 ? 2 : 1
        let names = report.classNames.map { BitmapFont.truncated($0, toWidth: 180, scale: labelScale) }
        let labelWidth = (names.map { BitmapFont.width(of: $0, scale: labelScale) }.max() ?? 0) + 10
        let margin = 16, barWidth = 120, barArea = barWidth + 90
        let title = heading(report)
        let subtitle = "rows: true class, columns: predicted class; colour: share of the row"

        let left = margin + 22 + labelWidth
        let top = margin + 48 + 22 + labelWidth
        let width = max(left + k * cell + 24 + barArea + margin, margin * 2 + BitmapFont.width(of: title, scale: 2),
                        margin * 2 + BitmapFont.width(of: subtitle, scale: 2))
        let height = top + k * cell + margin + 8
        var figure = Figure(width: width, height: height)
        figure.text(title, x: margin, y: margin, scale: 2, color: ink)
        figure.text(subtitle, x: margin, y: margin + 22, scale: 2, color: muted)
        figure.text("predicted", x: left + k * cell / 2, y: margin + 48, scale: 2, color: ink, anchor: .middle)
        figure.text("true", x: margin, y: top + k * cell / 2, scale: 2, color: ink, anchor: .middle, upward: true)

        for (c, name) in names.enumerated() {
            // Row labels end at the matrix; column labels read upwards, ending at it.
            figure.text(name, x: left - 6, y: top + c * cell + (cell - 7 * labelScale) / 2, scale: labelScale, color: ink,
                        anchor: .end)
            figure.text(name, x: left + c * cell + (cell - 7 * labelScale) / 2, y: top - 6, scale: labelScale, color: ink,
                        upward: true)
        }
        for t in 0..<k {
            let rowTotal = report.confusion[t].reduce(0, +)
            for p in 0..<k {
                let count = report.confusion[t][p]
                let share = rowTotal == 0 ? 0 : Double(count) / Double(rowTotal)
                let color = blues(share)
                let x = left + p * cell, y = top + t * cell
                figure.rect(x: x, y: y, width: cell, height: cell, fill: color)
                let text = "\(count)"
                // Counts in every cell or in none: cells of many classes are too small for them.
                let scale = cell < 20 ? 0 : BitmapFont.width(of: text, scale: 2) <= cell - 6 ? 2 : BitmapFont.width(of: text) <= cell - 2 ? 1 : 0
                if scale > 0 {
                    figure.text(text, x: x + cell / 2, y: y + (cell - 7 * scale) / 2, scale: scale,
                                color: color.luma < 140 ? .white : count == 0 ? RGB(0xb0, 0xb0, 0xb0) : ink, anchor: .middle)
                }
            }
        }
        figure.rect(x: left, y: top, width: k * cell, height: k * cell, stroke: muted)
        // The diagonal's cells outlined: where the right answers are.
        for c in 0..<k { figure.rect(x: left + c * cell, y: top + c * cell, width: cell, height: cell, stroke: ink) }

        // Per-class accuracy bars, one per row.
        let barLeft = left + k * cell + 24
        let valueScale = cell >= 24 ? 2 : 1
        figure.text("accuracy", x: barLeft, y: top - 22, scale: 2, color: ink)
        figure.rect(x: barLeft, y: top, width: 1, height: k * cell, fill: muted)
        for (c, stats) in report.perClass.enumerated() {
            let y = top + c * cell
            let barHeight = max(4, cell * 6 / 10)
            let length = Int(((stats.accuracy ?? 0) * Double(barWidth)).rounded())
            figure.rect(x: barLeft + 1, y: y + (cell - barHeight) / 2, width: barWidth, height: barHeight, fill: RGB(0xee, 0xee, 0xee))
            figure.rect(x: barLeft + 1, y: y + (cell - barHeight) / 2, width: length, height: barHeight, fill: bar)
            if cell >= 10 {
                figure.text(percent(stats.accuracy), x: barLeft + barWidth + 8, y: y + (cell - 7 * valueScale) / 2, scale: valueScale,
                            color: ink)
            }
        }
        return figure
    }

    /// A small label and a large name, centred together in `width`.
    static func caption(_ figure: inout Figure, _ label: String, _ name: String, x: Int, y: Int, width: Int, color: RGB) {
        let labelWidth = BitmapFont.width(of: label) + 5
        let shown = BitmapFont.truncated(name, toWidth: width - 6 - labelWidth, scale: 2)
        let total = labelWidth + BitmapFont.width(of: shown, scale: 2)
        let start = x + (width - total) / 2
        figure.text(label, x: start, y: y + 6, color: muted)
        figure.text(shown, x: start + labelWidth, y: y, scale: 2, color: color)
    }

    /// Test images in a grid, 8 a row, the misclassified first: each framed and captioned with
    /// its predicted class (above) and true class (below), green where right and red where wrong.
    public static func grid(_ report: EvaluationReport, columns: Int = 8) -> Figure {
        let items = report.grid
        let columns = max(1, min(columns, items.count))
        let rows = (items.count + columns - 1) / columns
        let margin = 16
        // Show small images at an integer scale near 112 px; shrink large ones to fit 112.
        let sample = items.first?.image
        let side = max(sample?.width ?? 1, sample?.height ?? 1)
        let (shownWidth, shownHeight): (Int, Int) = {
            guard let sample else { return (112, 112) }
            if side <= 112 {
                let scale = max(1, 112 / side)
                return (sample.width * scale, sample.height * scale)
            }
            return (sample.width * 112 / side, sample.height * 112 / side)
        }()
        let cellWidth = max(shownWidth + 4, 168), captionHeight = 18 + 16
        let cellHeight = shownHeight + 4 + 4 + captionHeight + 12
        let title = heading(report)
        let subtitle = "\(items.count) of \(report.images) test images, the \(min(report.wrong, items.count)) misclassified first "
            + "(red: wrong, green: right)"
        let top = margin + 22 + 24
        let width = max(margin * 2 + columns * cellWidth, margin * 2 + BitmapFont.width(of: title, scale: 2),
                        margin * 2 + BitmapFont.width(of: subtitle, scale: 2))
        let height = top + rows * cellHeight + margin
        var figure = Figure(width: width, height: height)
        figure.text(title, x: margin, y: margin, scale: 2, color: ink)
        figure.text(subtitle, x: margin, y: margin + 22, scale: 2, color: muted)
        for (n, item) in items.enumerated() {
            let x = margin + (n % columns) * cellWidth, y = top + (n / columns) * cellHeight
            let color = item.isCorrect ? RGB.right : RGB.wrong
            let imageX = x + (cellWidth - shownWidth) / 2
            figure.rect(x: imageX - 2, y: y, width: shownWidth + 4, height: shownHeight + 4, fill: color)
            figure.image(item.image, x: imageX, y: y + 2, width: shownWidth, height: shownHeight)
            let captionY = y + shownHeight + 4 + 5
            caption(&figure, "pred", report.classNames[item.predicted], x: x, y: captionY, width: cellWidth, color: color)
            caption(&figure, "true", report.classNames[item.label], x: x, y: captionY + 18, width: cellWidth,
                    color: item.isCorrect ? color : ink)
        }
        return figure
    }
}
