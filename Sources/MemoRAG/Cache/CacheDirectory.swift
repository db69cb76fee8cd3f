import Foundation

/// Atomic replacement of a cache dir: the new contents are written into a hidden sibling, and only a complete one
/// takes the dir's place (rename), so a memorize that fails or is killed halfway leaves the old cache as it was.
enum CacheDirectory {
    /// Runs `fill` on an empty staging dir next to `dir`, then swaps it in. `keep` names files of the existing `dir`
    /// to carry over unchanged (hard-linked, or copied where links are impossible) before `fill` runs.
    static func replace(_ dir: URL, keeping keep: [String] = [], fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = dir.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let token = UUID().uuidString.prefix(8)
        let staging = parent.appendingPathComponent(".\(dir.lastPathComponent).partial-\(token)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        do {
            for name in keep {
                let from = dir.appendingPathComponent(name), to = staging.appendingPathComponent(name)
                do { try fm.linkItem(at: from, to: to) } catch { try fm.copyItem(at: from, to: to) }
            }
            try fill(staging)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: dir.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                try? fm.removeItem(at: staging)
                throw MemoRAGError.invalidArgument("\(dir.path) exists and is not a directory")
            }
            let old = parent.appendingPathComponent(".\(dir.lastPathComponent).old-\(token)")
            try fm.moveItem(at: dir, to: old)
            do { try fm.moveItem(at: staging, to: dir) } catch {
                try? fm.moveItem(at: old, to: dir)  // put the old cache back
                throw error
            }
            try? fm.removeItem(at: old)
        } else {
            try fm.moveItem(at: staging, to: dir)
        }
    }
}
