namespace MedRecon.Dicom.Codecs;

/// <summary>
/// JPEG Lossless, Non-Hierarchical (ITU T.81 process 14, Huffman coding): all seven predictors, point transform,
/// restart intervals, 2–16 bit precision, one or more components (interleaved or one scan each, sampling 1×1).
/// </summary>
public sealed class JpegLosslessDecoder
{
    sealed class Huffman
    {
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValPtr = new int[17];
        public readonly int[] MinCode = new int[17];
        public byte[] Values = Array.Empty<byte>();
        // fast lookup for codes up to 9 bits: (length << 8) | value, 0 when longer
        public readonly int[] Fast = new int[512];
    }

    sealed class Component
    {
        public int Id, H, V, Index;
        public int Dc;
        public ushort[] Plane = Array.Empty<ushort>();
    }

    readonly byte[] _d;
    readonly string? _path;
    int _pos;
    readonly Huffman?[] _tables = new Huffman?[4];
    int _restartInterval;
    int _precision, _width, _height;
    Component[] _components = Array.Empty<Component>();
    // bit reader
    uint _bitBuf;
    int _bitCount;
    bool _hitMarker;

    JpegLosslessDecoder(byte[] data, string? path)
    {
        _d = data;
        _path = path;
    }

    public int Width => _width;
    public int Height => _height;
    public int Precision => _precision;
    public int ComponentCount => _components.Length;

    DicomFileException Err(string m) => new(_path, -1, $"JPEG Lossless: {m} (at byte {_pos} of the frame)");

    /// <summary>Decodes a frame; returns samples per component plane [component][y*width+x].</summary>
    public static (ushort[][] Planes, int Width, int Height, int Precision) Decode(byte[] data, string? path = null)
    {
        var dec = new JpegLosslessDecoder(data, path);
        dec.Run();
        return (dec._components.Select(c => c.Plane).ToArray(), dec._width, dec._height, dec._precision);
    }

    int U8() => _pos < _d.Length ? _d[_pos++] : throw Err("unexpected end of data");
    int U16() => (U8() << 8) | U8();

    void Run()
    {
        if (U8() != 0xFF || U8() != 0xD8) throw Err("missing SOI marker");
        bool frameSeen = false;
        while (true)
        {
            int m = NextMarker();
            switch (m)
            {
                case 0xD9: // EOI
                    if (!frameSeen) throw Err("no frame");
                    return;
                case 0xC3:
                    ReadSof();
                    frameSeen = true;
                    break;
                case 0xC4:
                    ReadDht();
                    break;
                case 0xDD:
                    U16();
                    _restartInterval = U16();
                    break;
                case 0xDA:
                    if (!frameSeen) throw Err("SOS before SOF3");
                    ReadScan();
                    if (_pos >= _d.Length) return; // tolerate a missing EOI
                    break;
                case 0xC0 or 0xC1 or 0xC2:
                    throw Err($"SOF{m - 0xC0} (lossy DCT JPEG) found; only process 14 (SOF3) is supported — transcode with `dcmdjpeg`");
                case 0xF7:
                    throw Err("JPEG-LS (SOF55) data; transcode with `dcmdjpls` or `gdcmconv --raw`");
                case >= 0xC5 and <= 0xCF and not 0xC8 and not 0xCC:
                    throw Err($"unsupported JPEG process (marker FF{m:X2}: hierarchical or arithmetic coding)");
                default:
                    if (m is >= 0xD0 and <= 0xD7 or 0x01) break; // stray RST / TEM
                    int len = U16(); // APPn, COM, DNL, ...
                    if (len < 2 || _pos + len - 2 > _d.Length) throw Err($"marker FF{m:X2} segment length {len} is invalid");
                    _pos += len - 2;
                    break;
            }
        }
    }

    int NextMarker()
    {
        // skip fill bytes / garbage until FF xx
        while (true)
        {
            if (_pos >= _d.Length) return 0xD9; // treat end of data as EOI
            if (_d[_pos] != 0xFF) { _pos++; continue; }
            while (_pos < _d.Length && _d[_pos] == 0xFF) _pos++;
            if (_pos >= _d.Length) return 0xD9;
            int m = _d[_pos++];
            if (m != 0) return m;
        }
    }

    void ReadSof()
    {
        int len = U16();
        _precision = U8();
        _height = U16();
        _width = U16();
        int n = U8();
        if (len != 8 + 3 * n) throw Err("bad SOF3 length");
        if (_precision < 2 || _precision > 16) throw Err($"precision {_precision} outside 2..16");
        if (_width == 0 || _height == 0) throw Err("zero image size (DNL not supported)");
        if (n < 1 || n > 4) throw Err($"{n} components");
        if ((long)_width * _height * n > Array.MaxLength / 2) throw Err("image too large");
        // every sample costs at least one bit: reject headers that the data cannot fill before allocating
        if ((long)_width * _height * n > 8L * _d.Length) throw Err($"{_width}×{_height}×{n} samples cannot fit in {_d.Length} bytes");
        _components = new Component[n];
        for (int i = 0; i < n; i++)
        {
            var c = new Component { Id = U8(), Index = i };
            int hv = U8();
            c.H = hv >> 4;
            c.V = hv & 15;
            U8(); // quantisation table: unused in lossless
            if (c.H != 1 || c.V != 1) throw Err("subsampled components are not supported in lossless JPEG");
            c.Plane = new ushort[_width * _height];
            _components[i] = c;
        }
    }

    void ReadDht()
    {
        int len = U16();
        int end = _pos + len - 2;
        if (end > _d.Length) throw Err("DHT segment runs past the data");
        while (_pos < end)
        {
            int tc = U8();
            int id = tc & 15;
            if (id > 3) throw Err("Huffman table id > 3");
            var counts = new int[17];
            int total = 0;
            for (int i = 1; i <= 16; i++) total += counts[i] = U8();
            if (total > 256 || _pos + total > end) throw Err("bad Huffman table");
            var h = new Huffman { Values = _d.AsSpan(_pos, total).ToArray() };
            _pos += total;
            int code = 0, k = 0;
            for (int l = 1; l <= 16; l++)
            {
                h.ValPtr[l] = k;
                h.MinCode[l] = code;
                code += counts[l];
                if (code > 1 << l) throw Err("over-subscribed Huffman table");
                k += counts[l];
                h.MaxCode[l] = counts[l] > 0 ? code - 1 : -1;
                code <<= 1;
            }
            h.MaxCode[17] = int.MaxValue;
            // fast table
            code = 0;
            k = 0;
            for (int l = 1; l <= 9; l++)
            {
                for (int i = 0; i < counts[l]; i++, k++, code++)
                {
                    int shift = 9 - l;
                    for (int f = code << shift; f < (code + 1) << shift; f++) h.Fast[f] = (l << 8) | h.Values[k];
                }
                code <<= 1;
            }
            if ((tc >> 4) == 0 || true) _tables[id] = h; // lossless uses "DC" class tables; accept either
        }
    }

    void ResetBits()
    {
        _bitBuf = 0;
        _bitCount = 0;
        _hitMarker = false;
    }

    void Fill()
    {
        while (_bitCount <= 24)
        {
            int b = 0;
            if (!_hitMarker && _pos < _d.Length)
            {
                b = _d[_pos];
                if (b == 0xFF)
                {
                    int next = _pos + 1 < _d.Length ? _d[_pos + 1] : 0xD9;
                    if (next == 0x00) _pos += 2;
                    else { _hitMarker = true; b = 0; } // a marker: feed zeros, leave _pos on FF
                }
                else _pos++;
            }
            _bitBuf |= (uint)b << (24 - _bitCount);
            _bitCount += 8;
        }
    }

    int Bits(int n)
    {
        if (n == 0) return 0;
        if (_bitCount < n) Fill();
        int v = (int)(_bitBuf >> (32 - n));
        _bitBuf <<= n;
        _bitCount -= n;
        return v;
    }

    int DecodeHuffman(Huffman h)
    {
        if (_bitCount < 16) Fill();
        int look = (int)(_bitBuf >> 23);
        int f = h.Fast[look];
        if (f != 0)
        {
            int l = f >> 8;
            _bitBuf <<= l;
            _bitCount -= l;
            return f & 0xFF;
        }
        int code = 0;
        for (int l = 1; l <= 16; l++)
        {
            code = (code << 1) | (int)(_bitBuf >> 31);
            _bitBuf <<= 1;
            _bitCount--;
            if (code <= h.MaxCode[l]) return h.Values[h.ValPtr[l] + code - h.MinCode[l]];
        }
        throw Err("invalid Huffman code");
    }

    int ReadDiff(Huffman h)
    {
        int s = DecodeHuffman(h);
        if (s == 0) return 0;
        if (s == 16) return 32768;
        if (s > 16) throw Err($"difference category {s} > 16");
        int v = Bits(s);
        return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
    }

    void ReadScan()
    {
        int len = U16();
        int ns = U8();
        if (len != 6 + 2 * ns || ns < 1 || ns > _components.Length) throw Err("bad SOS header");
        var comps = new Component[ns];
        var tabs = new Huffman[ns];
        for (int i = 0; i < ns; i++)
        {
            int id = U8();
            int t = U8() >> 4;
            comps[i] = _components.FirstOrDefault(c => c.Id == id) ?? throw Err($"SOS names unknown component {id}");
            tabs[i] = (t < 4 ? _tables[t] : null) ?? throw Err($"Huffman table {t} not defined");
        }
        int predictor = U8();
        U8(); // Se
        int pt = U8() & 15;
        if (predictor < 1 || predictor > 7) throw Err($"predictor (selection value) {predictor} outside 1..7");
        if (pt >= _precision) throw Err("point transform >= precision");

        int w = _width, h = _height;
        int mask = (1 << (_precision)) - 1;
        mask = 0xFFFF; // arithmetic is modulo 2^16 (T.81 H.2.1)
        int initial = 1 << (_precision - pt - 1);
        ResetBits();
        int mcusLeft = _restartInterval;
        bool firstLine = true; // first line of a restart interval
        int restartX = 0;
        var planes = comps.Select(c => c.Plane).ToArray();
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                if (_restartInterval > 0)
                {
                    if (mcusLeft == 0)
                    {
                        HandleRestart();
                        mcusLeft = _restartInterval;
                        firstLine = true;
                        restartX = x;
                    }
                    mcusLeft--;
                }
                int idx = y * w + x;
                bool startOfInterval = firstLine && x == restartX;
                for (int ci = 0; ci < ns; ci++)
                {
                    var p = planes[ci];
                    int pred;
                    if (startOfInterval) pred = initial;
                    else if (firstLine) pred = p[idx - 1];
                    else if (x == 0) pred = p[idx - w];
                    else
                    {
                        int ra = p[idx - 1], rb = p[idx - w], rc = p[idx - w - 1];
                        pred = predictor switch
                        {
                            1 => ra,
                            2 => rb,
                            3 => rc,
                            4 => ra + rb - rc,
                            5 => ra + ((rb - rc) >> 1),
                            6 => rb + ((ra - rc) >> 1),
                            _ => (ra + rb) >> 1,
                        };
                    }
                    int diff = ReadDiff(tabs[ci]);
                    p[idx] = (ushort)((pred + diff) & mask);
                }
            }
            if (firstLine && (restartX == 0 || true)) firstLine = false;
        }
        // apply the point transform
        if (pt > 0)
            foreach (var p in planes)
                for (int i = 0; i < p.Length; i++) p[i] = (ushort)(p[i] << pt);
        // leave _pos at the next marker
        if (_hitMarker) return;
        while (_pos < _d.Length - 1 && !(_d[_pos] == 0xFF && _d[_pos + 1] != 0 && _d[_pos + 1] != 0xFF)) _pos++;
    }

    void HandleRestart()
    {
        // discard remaining bits, expect RSTn
        ResetBits();
        while (_pos < _d.Length && _d[_pos] != 0xFF) _pos++;
        while (_pos < _d.Length && _d[_pos] == 0xFF) _pos++;
        if (_pos < _d.Length && _d[_pos] >= 0xD0 && _d[_pos] <= 0xD7) _pos++;
        else throw Err("expected a restart marker");
    }
}
