package kafka

import "context"

// HandleFrame runs one request frame (without its size prefix) through the
// decoding and dispatch path and returns the framed response (nil for none).
func (s *Server) HandleFrame(ctx context.Context, frame []byte) ([]byte, error) {
	if len(frame) < 8 {
		return nil, errFrame
	}
	rc := &reqCtx{host: "fuzz"}
	resp, err := s.handle(ctx, rc, frame)
	if err != nil || resp == nil {
		return nil, err
	}
	return s.frameResponse(nil, rc, resp), nil
}
