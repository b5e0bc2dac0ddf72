import CLTrainTraining
import Foundation

/// How `cltrain predict` shows its result: plain lines, CSV or JSON. Each row keeps the top
/// classes (at most `top`) with their softmax probabilities, and the CSV and JSON every logit.
public enum PredictionTable {
    /// One line per image: `FILE: NAME (P%)  top-5: NAME P%, ...`.
    public static func lines(_ result: Prediction.Result, top: Int = 5) -> [String] {
        result.rows.map { row in
            let best = row.top(top)
            let list = best.map { "\(result.classNames[$0.classIndex]) \(percent($0.probability))" }.joined(separator: ", ")
            let first = best.first.map { "\(result.classNames[$0.classIndex]) (\(percent($0.probability)))" } ?? "-"
            return "\(row.label): \(first)  top-\(best.count): \(list)"
        }
    }

    /// CSV: the columns `cltrain predict` always wrote (`index`, `logit_0`...`logit_{K-1}`,
    /// `predicted`, in that order, `index` counting rows from 0: an IDX file's image index), then
    /// `file`, `predicted_name` and `top1_name`, `top1_probability`... for the top classes.
    public static func csv(_ result: Prediction.Result, top: Int = 5) -> String {
        let k = min(max(top, 0), result.classes)
        var header = ["index"] + (0..<result.classes).map { "logit_\($0)" } + ["predicted", "file", "predicted_name"]
        if k > 0 { for n in 1...k { header += ["top\(n)_name", "top\(n)_probability"] } }
        var out = header.joined(separator: ",") + "\n"
        for (index, row) in result.rows.enumerated() {
            var fields = ["\(index)"] + row.logits.map { "\($0)" }
            let best = row.top(k)
            fields += ["\(row.predicted)", field(row.label), field(result.classNames[row.predicted])]
            for entry in best { fields += [field(result.classNames[entry.classIndex]), String(format: "%.6g", entry.probability)] }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    /// JSON: `class_names`, and per image its `file`, `index` in an IDX file (or null), `predicted`,
    /// `predicted_name`, `top` (class, name, probability) and `logits`.
    public static func json(_ result: Prediction.Result, model: String, weights: String, top: Int = 5) throws -> Data {
        let rows: [[String: Any]] = result.rows.map { row in
            [
                "file": row.source,
                "index": row.index.map { $0 as Any } ?? NSNull(),
                "predicted": row.predicted,
                "predicted_name": result.classNames[row.predicted],
                "top": row.top(top).map { ["class": $0.classIndex, "name": result.classNames[$0.classIndex], "probability": $0.probability] },
                "logits": row.logits.map { Double("\($0)") ?? Double($0) },
            ]
        }
        let object: [String: Any] = ["model": model, "weights": weights, "device": result.device, "class_names": result.classNames,
                                     "predictions": rows]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }

    static func percent(_ p: Double) -> String { String(format: "%.1f%%", 100 * p) }

    /// A CSV field, quoted when it holds a comma, quote or line break.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
