import Foundation

/// Why `multimix data fetch` stopped, as one line naming the URL or file, the problem and the fix.
public struct FetchError: Error, CustomStringConvertible, LocalizedError {
    /// The one-line message.
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }
}
