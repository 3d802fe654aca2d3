package processing

// SetTamper makes the processor alter every output (in place) before its
// pixel data is checked.
func SetTamper(p *Processor, fn func(out []byte)) { p.tamper = fn }
