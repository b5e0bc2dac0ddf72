import CLTrainData
import CLTrainIO
import CLTrainTraining
import Foundation

/// An output folder (a report's, localization's) that cannot be made or written, in one line
/// that says what to do.
public struct ReportFolderError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    /// What was to be written there ("the report").
    public var what = "the report"

    public var description: String { "cannot write \(what) to \(path): \(reason)" }
}

/// Writes what `cltrain eval --report DIR` produces: `report.json`, `confusion.svg`/`.png` (the
/// confusion matrix with each class's accuracy beside it) and `grid.svg`/`.png` (test images with
/// predicted and true names, misclassified first). Each file is written atomically (a temporary
/// file renamed into place), so a failure leaves the previous file or none, never half of one.
public enum ReportFolder {
    public static let files = ["report.json", "confusion.svg", "confusion.png", "grid.svg", "grid.png"]

    /// Makes the folder (and its parents) or says why it cannot be used, before any work; `what`
    /// names what goes there in the error ("the report", "the localization").
    public static func prepare(_ path: String, for what: String = "the report") throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else {
                throw ReportFolderError(path: path, reason: "it is a file, not a folder: give a folder's path", what: what)
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ReportFolderError(path: path, reason: "the folder cannot be made (\(reason(error))): give a writable folder's path",
                                        what: what)
            }
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw ReportFolderError(path: path, reason: "the folder is not writable: give a writable folder's path", what: what)
        }
    }

    /// Writes every file of `report` into `path` (made when missing); returns their paths.
    @discardableResult
    public static func write(_ report: EvaluationReport, to path: String) throws -> [String] {
        try prepare(path)
        let folder = URL(fileURLWithPath: path, isDirectory: true)
        let confusion = EvaluationFigures.confusion(report), grid = EvaluationFigures.grid(report)
        let title = "\(report.model) on \(report.dataset)"
        let contents: [(String, Data)] = [
            ("report.json", try json(report)),
            ("confusion.svg", Data(try confusion.svg(title: "Confusion matrix: \(title)").utf8)),
            ("confusion.png", Data(try confusion.png())),
            ("grid.svg", Data(try grid.svg(title: "Predictions: \(title)").utf8)),
            ("grid.png", Data(try grid.png())),
        ]
        var written: [String] = []
        for (name, data) in contents {
            let url = folder.appendingPathComponent(name)
            try AtomicFile.write(data, to: url)
            written.append(url.path)
        }
        return written
    }

    /// `report.json`: the figures' numbers. `confusion[t][p]` counts images of true class t
    /// predicted as p; a class without images (or predictions) has null accuracy (precision).
    public static func json(_ report: EvaluationReport) throws -> Data {
        func number(_ value: Double?) -> Any { value.map { $0 as Any } ?? NSNull() }
        let formatter = ISO8601DateFormatter()
        let object: [String: Any] = [
            "model": report.model,
            "weights": report.weights,
            "dataset": report.dataset,
            "device": report.device,
            "date": formatter.string(from: report.date),
            "images": report.images,
            "accuracy": report.accuracy,
            "loss": report.loss.isFinite ? report.loss as Any : NSNull(),
            "misclassified": report.wrong,
            "class_names": report.classNames,
            "confusion": report.confusion,
            "per_class": report.perClass.map { stats -> [String: Any] in
                ["name": stats.name, "count": stats.count, "predicted": stats.predicted, "correct": stats.correct,
                 "accuracy": number(stats.accuracy), "precision": number(stats.precision), "recall": number(stats.recall)]
            },
            "grid": report.grid.map { ["index": $0.index, "label": $0.label, "predicted": $0.predicted] },
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }

    /// Why a folder could not be made: the POSIX error under Foundation's (whose own text says
    /// "The file doesn't exist." for every cause), else Foundation's.
    static func reason(_ error: Error) -> String {
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? Error {
            let posix = underlying as NSError
            if posix.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(posix.code))) }
        }
        let text = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
