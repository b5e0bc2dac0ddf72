import CLTrainTraining
import Foundation

/// A malformed metrics CSV file. Each case renders as one line that says where and what to do.
public enum MetricsCSVError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The text has no header line at all.
    case empty(source: String)
    /// The first line is not the expected header.
    case badHeader(source: String, found: String)
    /// A data line has the wrong number of comma-separated fields.
    case wrongFieldCount(source: String, line: Int, expected: Int, found: Int)
    /// A field cannot be read as the number its column needs (or is empty but required).
    case invalidValue(source: String, line: Int, column: String, value: String)

    public var description: String {
        let text: String
        switch self {
        case let .empty(source):
            text = "\(source): empty, expected the header '\(MetricsCSV.header)'; delete the file to start a new log"
        case let .badHeader(source, found):
            text = "\(source) line 1: header is '\(found)', expected '\(MetricsCSV.header)'; "
                + "the file was not written by cltrain or by an incompatible version"
        case let .wrongFieldCount(source, line, expected, found):
            text = "\(source) line \(line): \(found) fields, expected \(expected); "
                + "fix or delete that line (a run interrupted while writing leaves a partial last line)"
        case let .invalidValue(source, line, column, value):
            let shown = value.isEmpty ? "an empty field" : "'\(value)'"
            text = "\(source) line \(line): column \(column) has \(shown), which is not a valid value; fix or delete that line"
        }
        return oneLine(text)
    }
}

/// Per-epoch metrics as CSV: one header line, one line per epoch.
///
/// Missing test values are empty fields. Accuracies are fractions in 0...1 with 6 decimals.
/// Losses and the learning rate keep enough digits to read back the value the run used;
/// non-finite values are written as `nan`, `inf`, `-inf` and read back as such.
public enum MetricsCSV {
    public static let columns = [
        "epoch", "step", "lr", "train_loss", "train_accuracy",
        "test_loss", "test_accuracy", "seconds", "images_per_second",
    ]
    public static let header = columns.joined(separator: ",")

    /// The whole file: header plus one line per epoch, each ending in a newline.
    public static func render(_ metrics: [EpochMetrics]) -> String {
        var text = header + "\n"
        for entry in metrics { text += row(entry) + "\n" }
        return text
    }

    /// One data line without its newline, for appending to a log after each epoch.
    public static func row(_ m: EpochMetrics) -> String {
        [
            String(m.epoch),
            String(m.step),
            exact(m.learningRate),
            significant(m.trainLoss),
            fraction(m.trainAccuracy),
            m.testLoss.map(significant) ?? "",
            m.testAccuracy.map(fraction) ?? "",
            fixed(m.seconds, decimals: 3),
            fixed(m.imagesPerSecond, decimals: 1),
        ].joined(separator: ",")
    }

    /// Reads text written by `render` (or by appending `row`s after the header).
    /// Accepts `\n` or `\r\n` line ends and blank lines; `source` names the file in errors.
    public static func parse(_ text: String, source: String = "metrics CSV") throws -> [EpochMetrics] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        guard let headerIndex = lines.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw MetricsCSVError.empty(source: source)
        }
        let foundHeader = lines[headerIndex].trimmingCharacters(in: .whitespaces)
        guard foundHeader == header else {
            throw MetricsCSVError.badHeader(source: source, found: String(foundHeader.prefix(200)))
        }
        var result: [EpochMetrics] = []
        for index in (headerIndex + 1)..<lines.count {
            let line = lines[index]
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let lineNumber = index + 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == columns.count else {
                throw MetricsCSVError.wrongFieldCount(
                    source: source, line: lineNumber, expected: columns.count, found: fields.count)
            }
            func fail(_ column: Int) -> MetricsCSVError {
                .invalidValue(source: source, line: lineNumber, column: columns[column], value: String(fields[column].prefix(100)))
            }
            func int(_ column: Int) throws -> Int {
                guard let value = Int(fields[column]) else { throw fail(column) }
                return value
            }
            func double(_ column: Int) throws -> Double {
                guard let value = Double(fields[column]) else { throw fail(column) }
                return value
            }
            func optional(_ column: Int) throws -> Double? {
                fields[column].isEmpty ? nil : try double(column)
            }
            let epoch = try int(0)
            guard epoch >= 1 else { throw fail(0) }
            let step = try int(1)
            guard step >= 0 else { throw fail(1) }
            result.append(EpochMetrics(
                epoch: epoch, step: step, learningRate: try double(2),
                trainLoss: try double(3), trainAccuracy: try double(4),
                testLoss: try optional(5), testAccuracy: try optional(6),
                seconds: try double(7), imagesPerSecond: try double(8)))
        }
        return result
    }

    // MARK: number formatting (POSIX, no locale)

    static func nonFinite(_ value: Double) -> String? {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return nil
    }

    /// Shortest text that reads back as the same Double (`0.1`, `1e-05`).
    static func exact(_ value: Double) -> String { nonFinite(value) ?? "\(value)" }

    /// Six significant digits (`0.412346`, `1.23457e-05`).
    static func significant(_ value: Double) -> String {
        nonFinite(value) ?? String(format: "%.6g", value)
    }

    static func fraction(_ value: Double) -> String { fixed(value, decimals: 6) }

    static func fixed(_ value: Double, decimals: Int) -> String {
        nonFinite(value) ?? String(format: "%.\(decimals)f", value)
    }
}

/// Shows control characters escaped so a message stays on one line.
func oneLine(_ text: String) -> String {
    var line = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7F {
            line += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
            line.unicodeScalars.append(scalar)
        }
    }
    return line
}
