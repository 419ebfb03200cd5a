/// Panda's version, printed by both command lines' --version and recorded in converted files' provenance.
public enum PandaVersion {
    public static let string = "0.1.0"
}
