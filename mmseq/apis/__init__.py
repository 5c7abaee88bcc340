from .inference import inference_model, init_model, load_weights

__all__ = ['init_model', 'inference_model', 'load_weights']
