import Evaluation
import Foundation
import RunConfig

/// One line for any error: this project's errors describe themselves; Foundation's file errors
/// (a read-only folder, a full disk, a name too long, a file where a folder should be) would print as
/// an `NSCocoaErrorDomain` dump, so they become "PATH: what the system said; the fix".
public enum ErrorText {
    public static func oneLine(_ error: Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else {
            return "\(error)".replacingOccurrences(of: "\n", with: " ")
        }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
        let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError } ?? (ns.domain == NSPOSIXErrorDomain ? ns : nil)
        let reason = underlying.flatMap { posix in
            posix.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(posix.code))) : nil
        } ?? ns.localizedDescription
        // Shared by every subcommand: the advice names no flag (report and data have no --run-dir).
        return "\(path): \(reason); check that the folder exists, is writable and has free space"
    }
}
