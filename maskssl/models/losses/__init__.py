from .multi_target_cosine_loss import (MultiTargetCosineLoss,
                                       multi_target_cosine_loss)

__all__ = ['MultiTargetCosineLoss', 'multi_target_cosine_loss']
