import CLTrainNN

extension ModelCatalog.Entry {
    /// Fail before any work when images of `height` x `width` are smaller than the model takes
    /// (`minimumInputSize`): a layer would get no positions. `fix` says what the command can do,
    /// given a size to ask for.
    public func checkInputSize(height: Int, width: Int, fix: (Int) -> String) throws {
        guard min(height, width) < minimumInputSize else { return }
        throw UsageError("images of \(height)x\(width) are too small for \(name), which needs at least "
                         + "\(minimumInputSize)x\(minimumInputSize): \(fix(suggestedInputSize))")
    }

    /// A size to suggest: the smallest multiple of 8 the model takes (densenet-121: 32).
    public var suggestedInputSize: Int { max(8, (minimumInputSize + 7) / 8 * 8) }
}
