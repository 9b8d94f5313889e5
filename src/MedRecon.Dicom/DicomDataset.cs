using System.Collections;
using System.Text;

namespace MedRecon.Dicom;

/// <summary>A DICOM data set: items ordered by tag, with typed value access in the manner of fo-dicom.</summary>
public sealed class DicomDataset : IEnumerable<DicomItem>
{
    readonly SortedDictionary<DicomTag, DicomItem> _items = new();

    public DicomDataset() { }

    public DicomDataset(IEnumerable<DicomItem> items)
    {
        foreach (var i in items) _items[i.Tag] = i;
    }

    /// <summary>Character encoding of the text values (from SpecificCharacterSet: ISO_IR 192 → UTF-8, else Latin-1).</summary>
    public Encoding TextEncoding
    {
        get
        {
            if (_items.TryGetValue(DicomTag.SpecificCharacterSet, out var i) && i is DicomElement e)
            {
                var cs = Encoding.ASCII.GetString(e.Buffer);
                if (cs.Contains("ISO_IR 192", StringComparison.Ordinal)) return Encoding.UTF8;
            }
            return InheritedEncoding ?? Encoding.Latin1;
        }
    }

    /// <summary>Encoding of the enclosing data set (for sequence items).</summary>
    internal Encoding? InheritedEncoding { get; set; }

    public int Count => _items.Count;
    public bool Contains(DicomTag tag) => _items.ContainsKey(tag);
    public DicomItem? GetItem(DicomTag tag) => _items.GetValueOrDefault(tag);
    public IEnumerator<DicomItem> GetEnumerator() => _items.Values.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public DicomDataset Remove(DicomTag tag)
    {
        _items.Remove(tag);
        return this;
    }

    public DicomDataset Remove(Func<DicomItem, bool> predicate)
    {
        foreach (var t in _items.Values.Where(predicate).Select(i => i.Tag).ToList()) _items.Remove(t);
        return this;
    }

    /// <summary>Adds or replaces an item.</summary>
    public DicomDataset AddOrUpdate(DicomItem item)
    {
        _items[item.Tag] = item;
        if (item is DicomSequence sq) foreach (var d in sq.Items) d.InheritedEncoding ??= TextEncoding;
        return this;
    }

    /// <summary>Adds or replaces an element, taking its VR from the dictionary.</summary>
    public DicomDataset AddOrUpdate<T>(DicomTag tag, params T[] values)
    {
        var vr = DicomDictionary.Lookup(tag)?.VR
                 ?? throw new ArgumentException($"tag {tag} is not in the dictionary; give its VR");
        return AddOrUpdate(vr, tag, values);
    }

    /// <summary>Adds or replaces an element with an explicit VR. Strings and numbers are converted to the VR.</summary>
    public DicomDataset AddOrUpdate<T>(DicomVR vr, DicomTag tag, params T[] values)
    {
        if (vr == DicomVR.SQ)
        {
            var items = values.Cast<DicomDataset>().ToArray();
            return AddOrUpdate(new DicomSequence(tag, items));
        }
        byte[] buf;
        if (vr.IsString)
            buf = ValueCodec.EncodeStrings(values.Select(v => ValueCodec.ToText(v, vr)), vr, vr == DicomVR.UI ? Encoding.ASCII : TextEncoding);
        else if (typeof(T) == typeof(string))
            buf = ValueCodec.EncodeBinary(values.Select(v => (object)double.Parse((string)(object)v!, System.Globalization.CultureInfo.InvariantCulture)).ToArray(), vr);
        else
            buf = ValueCodec.EncodeBinary(values, vr);
        _items[tag] = new DicomElement(tag, vr, buf);
        return this;
    }

    /// <summary>Adds only when the tag is absent.</summary>
    public DicomDataset Add<T>(DicomTag tag, params T[] values) => Contains(tag) ? this : AddOrUpdate(tag, values);

    DicomElement Element(DicomTag tag)
    {
        if (!_items.TryGetValue(tag, out var item)) throw new DicomDataException($"tag {tag} {tag.Keyword} not found");
        return item as DicomElement ?? throw new DicomDataException($"tag {tag} {tag.Keyword} is a {item.VR}, not a value");
    }

    /// <summary>Number of values of an element (0 when absent or empty).</summary>
    public int GetValueCount(DicomTag tag) =>
        _items.TryGetValue(tag, out var i) ? i switch
        {
            DicomElement e => e.Count(TextEncoding),
            DicomSequence s => s.Items.Count,
            DicomFragmentSequence f => f.Fragments.Count,
            _ => 0,
        } : 0;

    /// <summary>The value at index (default 0). Throws <see cref="DicomDataException"/> when missing or empty.</summary>
    public T GetValue<T>(DicomTag tag, int index = 0)
    {
        var e = Element(tag);
        int n = e.Count(TextEncoding);
        if (index < 0 || index >= n)
            throw new DicomDataException($"tag {tag} {tag.Keyword} has {n} values, index {index} requested");
        return ValueAt<T>(e, index);
    }

    T ValueAt<T>(DicomElement e, int index)
    {
        var enc = TextEncoding;
        try
        {
            if (e.VR.IsString)
            {
                if (typeof(T) == typeof(string) && !e.VR.IsMultiValueText) return (T)(object)e.GetString(enc);
                return ValueCodec.ConvertTo<T>(e.GetStrings(enc)[index]);
            }
            if (e.VR == DicomVR.AT)
            {
                var t = e.GetAT(index);
                return typeof(T) == typeof(DicomTag) ? (T)(object)t : ValueCodec.ConvertTo<T>(t.Value);
            }
            if (typeof(T) == typeof(long) || typeof(T) == typeof(ulong)) return ValueCodec.ConvertTo<T>(e.GetBinaryLong(index));
            double d = e.GetBinaryDouble(index);
            if (typeof(T) == typeof(double)) return (T)(object)d;
            if (typeof(T) == typeof(float)) return (T)(object)(float)d;
            if (typeof(T) == typeof(string)) return (T)(object)d.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return ValueCodec.ConvertTo<T>(e.VR.Code is "FL" or "FD" or "OF" or "OD" ? d : (object)(long)d);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or InvalidCastException)
        {
            throw new DicomDataException($"tag {e.Tag} {e.Tag.Keyword} ({e.VR}) value {index} cannot be read as {typeof(T).Name}: {ex.Message}");
        }
    }

    /// <summary>All values. For OB/UN and T=byte the raw bytes.</summary>
    public T[] GetValues<T>(DicomTag tag)
    {
        var e = Element(tag);
        if (typeof(T) == typeof(byte) && !e.VR.IsString) return (T[])(object)e.Buffer.ToArray();
        int n = e.Count(TextEncoding);
        var r = new T[n];
        for (int i = 0; i < n; i++) r[i] = ValueAt<T>(e, i);
        return r;
    }

    public bool TryGetValue<T>(DicomTag tag, int index, out T value)
    {
        value = default!;
        if (!_items.TryGetValue(tag, out var item) || item is not DicomElement e) return false;
        if (index < 0 || index >= e.Count(TextEncoding)) return false;
        try
        {
            value = ValueAt<T>(e, index);
            return true;
        }
        catch (DicomDataException)
        {
            return false;
        }
    }

    public bool TryGetValues<T>(DicomTag tag, out T[] values)
    {
        values = Array.Empty<T>();
        if (!_items.TryGetValue(tag, out var item) || item is not DicomElement) return false;
        try
        {
            values = GetValues<T>(tag);
            return true;
        }
        catch (DicomDataException)
        {
            return false;
        }
    }

    public T GetSingleValueOrDefault<T>(DicomTag tag, T defaultValue) =>
        TryGetValue<T>(tag, 0, out var v) ? v : defaultValue;

    /// <summary>The whole value as one string (multiple values joined by backslash), or "" when absent.</summary>
    public string GetString(DicomTag tag) =>
        _items.TryGetValue(tag, out var i) && i is DicomElement e
            ? (e.VR.IsString ? e.GetString(TextEncoding).Trim(' ') : string.Join('\\', GetValues<string>(tag)))
            : "";

    public DicomSequence GetSequence(DicomTag tag) =>
        _items.GetValueOrDefault(tag) as DicomSequence ?? throw new DicomDataException($"tag {tag} {tag.Keyword} is not a sequence");

    public bool TryGetSequence(DicomTag tag, out DicomSequence sequence)
    {
        sequence = (_items.GetValueOrDefault(tag) as DicomSequence)!;
        return sequence != null;
    }

    /// <summary>A deep copy (element buffers are shared: they are never modified in place).</summary>
    public DicomDataset Clone()
    {
        var c = new DicomDataset { InheritedEncoding = InheritedEncoding };
        foreach (var i in _items.Values)
            c._items[i.Tag] = i is DicomSequence s ? new DicomSequence(s.Tag, s.Items.Select(d => d.Clone())) : i;
        return c;
    }
}

/// <summary>A missing attribute or a value of the wrong type.</summary>
public sealed class DicomDataException : Exception
{
    public DicomDataException(string message) : base(message) { }
}
